// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

/// @title Child: a contract its factory can self-destruct.
/// @notice Storage layout: slot 0 factory (address), slot 1 generation (uint256).
contract Child {
    address public factory;
    uint256 public generation;

    constructor() payable {
        factory = msg.sender;
        generation = Factory(msg.sender).deployments();
    }

    /// @notice Self-destructs, sending the balance to `beneficiary`. Since Cancun (EIP-6780)
    /// this deletes the account only when it runs in the transaction that created it.
    function destroy(address payable beneficiary) external {
        require(msg.sender == factory, "Child: not the factory");
        selfdestruct(beneficiary);
    }
}

/// @title Factory: deploys Child contracts at CREATE2 addresses and destroys them.
/// @notice Storage layout: slot 0 deployments (uint256), the number of deployment attempts.
/// The same salt always gives the same Child address.
contract Factory {
    uint256 public deployments;

    event Deployed(bytes32 indexed salt, address child);
    event Destroyed(address indexed child, address beneficiary);

    /// @notice Deploys a Child at the CREATE2 address of `salt`, funded with the call's value.
    function deploy(bytes32 salt) public payable returns (address child) {
        deployments += 1;
        child = address(new Child{salt: salt, value: msg.value}());
        emit Deployed(salt, child);
    }

    /// @notice Deploys a Child and destroys it in the same call: the account really goes away.
    function deployAndDestroy(bytes32 salt) external payable returns (address child) {
        child = deploy(salt);
        destroy(child);
    }

    /// @notice Self-destructs `child`, sending its balance to the caller.
    function destroy(address child) public {
        Child(child).destroy(payable(msg.sender));
        emit Destroyed(child, msg.sender);
    }

    /// @notice Like `deploy`, but returns the zero address instead of reverting when the
    /// CREATE2 address is already taken (by a Child that was not deleted).
    function tryDeploy(bytes32 salt) external payable returns (address child) {
        deployments += 1;
        bytes memory init = type(Child).creationCode;
        uint256 value = msg.value;
        assembly {
            child := create2(value, add(init, 0x20), mload(init), salt)
        }
        emit Deployed(salt, child);
    }

    /// @notice The CREATE2 address of the Child for `salt`.
    function childAddress(bytes32 salt) external view returns (address) {
        bytes32 hash = keccak256(abi.encodePacked(bytes1(0xff), address(this), salt, keccak256(type(Child).creationCode)));
        return address(uint160(uint256(hash)));
    }
}

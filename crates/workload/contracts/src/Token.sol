// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

/// @title Token: a minimal ERC-20.
/// @notice The workload generator writes balances and allowances straight into the pre-state,
/// so the storage layout below is part of the contract's interface:
///   slot 0  balanceOf    mapping(address => uint256)
///                        balanceOf[holder]       at keccak256(pad32(holder) . pad32(0))
///   slot 1  allowance    mapping(address => mapping(address => uint256))
///                        allowance[owner][spender] at keccak256(pad32(spender) . keccak256(pad32(owner) . pad32(1)))
///   slot 2  totalSupply  uint256
contract Token {
    string public constant name = "Replay Token";
    string public constant symbol = "RPLY";
    uint8 public constant decimals = 18;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    uint256 public totalSupply;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    /// @notice An allowance of type(uint256).max is never decreased (the usual "infinite approval").
    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= value, "Token: allowance");
            unchecked {
                allowance[from][msg.sender] = allowed - value;
            }
        }
        _transfer(from, to, value);
        return true;
    }

    function _transfer(address from, address to, uint256 value) private {
        uint256 balance = balanceOf[from];
        require(balance >= value, "Token: balance");
        unchecked {
            balanceOf[from] = balance - value;
        }
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}

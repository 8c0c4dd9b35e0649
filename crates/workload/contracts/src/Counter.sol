// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

/// @title Counter: one shared number every caller increments.
/// @notice Storage layout: slot 0 count (uint256), slot 1 lastCaller (address).
contract Counter {
    uint256 public count;
    address public lastCaller;

    event Incremented(address indexed by, uint256 count);

    constructor(uint256 start) {
        count = start;
    }

    function increment() external returns (uint256) {
        uint256 next = count + 1;
        count = next;
        lastCaller = msg.sender;
        emit Incremented(msg.sender, next);
        return next;
    }
}

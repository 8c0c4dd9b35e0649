// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

/// @title Registry: a supply-chain registry where each item's owner records its progress.
/// @notice Updates by different owners touch different items. Storage layout (written directly
/// by the generator):
///   slot 0  items  mapping(uint256 => Item), an Item taking two slots from
///                  base = keccak256(pad32(itemId) . pad32(0)):
///                  base + 0 packed: owner (bits 0..159) | status << 160 (uint32) | updatedAt << 192 (uint64)
///                  base + 1 location (bytes32)
contract Registry {
    struct Item {
        address owner;
        uint32 status;
        uint64 updatedAt;
        bytes32 location;
    }

    mapping(uint256 => Item) public items;

    event ItemUpdated(uint256 indexed itemId, address indexed owner, uint32 status, bytes32 location);

    /// @notice Moves item `itemId` forward to `status` (which must be later than its current
    /// status) at `location`. Only the item's owner may update it.
    function update(uint256 itemId, uint32 status, bytes32 location) external {
        Item storage item = items[itemId];
        require(item.owner == msg.sender, "Registry: not the owner");
        require(status > item.status, "Registry: stale status");
        item.status = status;
        item.updatedAt = uint64(block.timestamp);
        item.location = location;
        emit ItemUpdated(itemId, msg.sender, status, location);
    }
}

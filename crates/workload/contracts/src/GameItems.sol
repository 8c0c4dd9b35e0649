// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

/// @title GameItems: an ERC-721-like collection of game items, minted in sequence.
/// @notice Every mint reads and bumps one shared counter, so mints in a block are a chain of
/// dependencies. Storage layout (written directly by the generator):
///   slot 0  totalMinted  uint256 (the last token id minted; ids start at 1)
///   slot 1  ownerOf      mapping(uint256 => address)
///   slot 2  balanceOf    mapping(address => uint256)
///   slot 3  traits       mapping(uint256 => uint256)
contract GameItems {
    uint256 public constant MAX_SUPPLY = 1_000_000_000;

    uint256 public totalMinted;
    mapping(uint256 => address) public ownerOf;
    mapping(address => uint256) public balanceOf;
    mapping(uint256 => uint256) public traits;

    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);

    /// @notice Mints the next item to the caller, with traits rolled from the beacon randomness.
    function mint() external returns (uint256 tokenId) {
        tokenId = totalMinted + 1;
        require(tokenId <= MAX_SUPPLY, "GameItems: sold out");
        totalMinted = tokenId;
        ownerOf[tokenId] = msg.sender;
        balanceOf[msg.sender] += 1;
        traits[tokenId] = uint256(keccak256(abi.encode(msg.sender, tokenId, block.prevrandao)));
        emit Transfer(address(0), msg.sender, tokenId);
    }
}

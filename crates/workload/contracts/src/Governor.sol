// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

/// @title Governor: token-weighted voting on open proposals.
/// @notice Each vote adds the voter's weight to the proposal's for/against tally: votes on the
/// same proposal share a slot. Storage layout (written directly by the generator):
///   slot 0  votingPower  mapping(address => uint256)
///   slot 1  proposals    mapping(uint256 => Proposal), a Proposal taking three slots from
///                        base = keccak256(pad32(id) . pad32(1)):
///                        base + 0 forVotes, base + 1 againstVotes, base + 2 deadline (unix time)
///   slot 2  hasVoted     mapping(uint256 => mapping(address => bool))
contract Governor {
    struct Proposal {
        uint256 forVotes;
        uint256 againstVotes;
        uint256 deadline;
    }

    mapping(address => uint256) public votingPower;
    mapping(uint256 => Proposal) public proposals;
    mapping(uint256 => mapping(address => bool)) public hasVoted;

    event VoteCast(address indexed voter, uint256 indexed proposalId, bool support, uint256 weight);

    /// @notice Votes for (`support`) or against open proposal `proposalId`, once per voter.
    function vote(uint256 proposalId, bool support) external {
        Proposal storage proposal = proposals[proposalId];
        require(block.timestamp < proposal.deadline, "Governor: closed");
        require(!hasVoted[proposalId][msg.sender], "Governor: already voted");
        uint256 weight = votingPower[msg.sender];
        require(weight > 0, "Governor: no voting power");
        hasVoted[proposalId][msg.sender] = true;
        if (support) {
            proposal.forVotes += weight;
        } else {
            proposal.againstVotes += weight;
        }
        emit VoteCast(msg.sender, proposalId, support, weight);
    }
}

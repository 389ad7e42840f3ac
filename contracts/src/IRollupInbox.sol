// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

/// @title IRollupInbox
/// @notice What a rollup's L1 inbox tells the `SequencerRegistry` about each slot (SPEC §8): whether
///         the slot's selected sequencer posted a batch, and which. The registry slashes broken
///         promises and fines missed slots from this view alone.
interface IRollupInbox {
    /// @notice A slot's state in the inbox.
    enum BatchStatus {
        /// The slot has no batch yet and may still get one.
        Open,
        /// The slot's batch was posted; `txListHash` says which.
        Posted,
        /// The slot closed with no batch from its selected sequencer.
        Missed
    }

    /// @notice The state of `slot`. For `Posted`, `txListHash = keccak256(abi.encodePacked(txHashes))`
    ///         of the batch posted for it; zero otherwise.
    function batchOf(uint64 slot) external view returns (BatchStatus status, bytes32 txListHash);
}

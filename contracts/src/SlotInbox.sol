// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {IRollupInbox} from "./IRollupInbox.sol";
import {SequencerRegistry} from "./SequencerRegistry.sol";

/// @title SlotInbox
/// @notice The reference rollup inbox of SPEC §8: one batch per slot, accepted only from the
///         operator or signer of the record the registry selects for the slot, only while the slot
///         is current or within `graceSlots` after it. A slot that closes without a batch is
///         `Missed`. A real rollup carries its data in blobs and binds it to `txListHash` in its
///         derivation; this inbox keeps the hash and emits the hashes.
/// @dev Time is the registry's (`currentSlot`), so the inbox and the registry cannot disagree on
///      which slot is current.
contract SlotInbox is IRollupInbox {
    /// @notice The registry whose selection decides who may post.
    SequencerRegistry public immutable registry;
    /// @notice The rollup (L2 chain id) whose batches this inbox takes.
    uint256 public immutable chainId;
    /// @notice Slots after its own during which a slot still accepts its batch.
    uint64 public immutable graceSlots;
    /// @notice The registry's slots per window, read once at construction.
    uint64 public immutable windowSlots;

    mapping(uint64 slot => bytes32 txListHash) private _batches;

    /// @notice The batch of `slot` was posted by `poster`.
    event BatchProposed(uint64 indexed slot, address indexed poster, bytes32 txListHash, bytes32[] txHashes);

    /// @notice The slot has not started yet.
    error SlotNotStarted(uint64 slot, uint64 currentSlot);
    /// @notice The slot's grace period is over.
    error SlotClosed(uint64 slot, uint64 currentSlot);
    /// @notice The slot has its batch already.
    error AlreadyProposed(uint64 slot);
    /// @notice The caller is neither the operator nor the signer of the slot's selected record.
    error NotSelected(uint64 slot, address caller);

    /// @param registry_ The `SequencerRegistry`.
    /// @param chainId_ The rollup's L2 chain id.
    /// @param graceSlots_ Slots a batch may be late (SPEC §8 uses 4).
    constructor(SequencerRegistry registry_, uint256 chainId_, uint64 graceSlots_) {
        registry = registry_;
        chainId = chainId_;
        graceSlots = graceSlots_;
        windowSlots = registry_.windowSlots();
    }

    /// @notice Posts the batch of `slot`: the hashes of its transactions, in order. When the seed
    ///         of the slot's window is not checkpointed yet, pass its anchor header and the
    ///         anchor's child (see `SequencerRegistry.checkpointSeed`); empty headers otherwise.
    function propose(uint64 slot, bytes32[] calldata txHashes, bytes calldata anchorHeader, bytes calldata nextHeader)
        external
    {
        uint64 current = registry.currentSlot();
        if (slot > current) revert SlotNotStarted(slot, current);
        if (current - slot > graceSlots) revert SlotClosed(slot, current);
        if (_batches[slot] != bytes32(0)) revert AlreadyProposed(slot);
        if (anchorHeader.length != 0) registry.checkpointSeed(slot / windowSlots, anchorHeader, nextHeader);
        _checkProposer(slot);
        bytes32 txListHash = keccak256(abi.encodePacked(txHashes));
        _batches[slot] = txListHash;
        emit BatchProposed(slot, msg.sender, txListHash, txHashes);
    }

    /// @inheritdoc IRollupInbox
    function batchOf(uint64 slot) external view returns (BatchStatus status, bytes32 txListHash) {
        txListHash = _batches[slot];
        if (txListHash != bytes32(0)) return (BatchStatus.Posted, txListHash);
        uint64 current = registry.currentSlot();
        return (current > slot && current - slot > graceSlots ? BatchStatus.Missed : BatchStatus.Open, bytes32(0));
    }

    /// @dev Reverts unless the caller may post the batch of `slot`: `registry.isSelected(chainId,
    ///      slot, msg.sender)`, called by hand because it is on every post (a revert of the
    ///      registry's, `SeedUnknown`, comes through as it is).
    function _checkProposer(uint64 slot) internal view virtual {
        address registry_ = address(registry);
        uint256 chainId_ = chainId;
        bytes4 isSelected = SequencerRegistry.isSelected.selector;
        bytes4 notSelected = NotSelected.selector;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, isSelected)
            mstore(add(ptr, 0x04), chainId_)
            mstore(add(ptr, 0x24), slot)
            mstore(add(ptr, 0x44), caller())
            // The answer overwrites the selector word, which is not 1 when no answer came back.
            if iszero(staticcall(gas(), registry_, ptr, 0x64, ptr, 0x20)) {
                returndatacopy(ptr, 0x00, returndatasize())
                revert(ptr, returndatasize())
            }
            if iszero(eq(mload(ptr), 1)) {
                mstore(ptr, notSelected)
                mstore(add(ptr, 0x04), slot)
                mstore(add(ptr, 0x24), caller())
                revert(ptr, 0x44)
            }
        }
    }
}

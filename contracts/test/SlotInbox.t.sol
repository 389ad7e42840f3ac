// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {IRollupInbox} from "../src/IRollupInbox.sol";
import {SequencerRegistry} from "../src/SequencerRegistry.sol";
import {SlotInbox} from "../src/SlotInbox.sol";
import {AccountabilityFixture} from "./utils/AccountabilityFixture.sol";

/// @notice SPEC §8, the reference `SlotInbox`: one batch per slot, from the operator or signer of
///         the slot's selected record, while `slot <= currentSlot <= slot + GRACE_SLOTS`. Alice
///         and Bob register in window 0; the seed of window 5 is stored; `slot` is a slot of
///         window 5 whose selected operator is `chosen` (the other is `other`).
contract SlotInboxTest is AccountabilityFixture {
    uint64 internal slot;
    address internal chosen;
    address internal other;
    bytes32[] internal batch;

    function setUp() public override {
        super.setUp();
        registerAs(alice, ROLLUP);
        registerAs(bob, ROLLUP);
        warpToWindow(5);
        checkpoint(5);
        slot = windowStart(5) + 10;
        chosen = selected(slot);
        other = chosen == alice ? bob : alice;
        batch = hashes(3, "batch");
    }

    function assertBatch(uint64 slot_, IRollupInbox.BatchStatus status, bytes32 txListHash, string memory message)
        internal
        view
    {
        (IRollupInbox.BatchStatus actual, bytes32 actualHash) = inbox.batchOf(slot_);
        vm.assertEq(uint256(actual), uint256(status), message);
        vm.assertEq(actualHash, txListHash, message);
    }

    function test_constructor_readsTheRegistry() public view {
        vm.assertEq(address(inbox.registry()), address(registry), "registry");
        vm.assertEq(inbox.chainId(), ROLLUP, "chainId");
        vm.assertEq(inbox.graceSlots(), GRACE_SLOTS, "graceSlots");
        vm.assertEq(inbox.windowSlots(), WINDOW_SLOTS, "windowSlots from the registry");
    }

    // ------------------------------------------------------------------------------- posting

    function test_propose_byTheOperator() public {
        warpToSlot(slot);
        bytes32 txListHash = keccak256(abi.encodePacked(batch));
        vm.expectEmit(address(inbox));
        emit SlotInbox.BatchProposed(slot, chosen, txListHash, batch);
        propose(chosen, slot, batch);
        assertBatch(slot, IRollupInbox.BatchStatus.Posted, txListHash, "posted");
        warpToSlot(slot + 1000);
        assertBatch(slot, IRollupInbox.BatchStatus.Posted, txListHash, "posted for good");
    }

    function test_propose_byTheSigner() public {
        warpToSlot(slot);
        vm.expectEmit(address(inbox));
        emit SlotInbox.BatchProposed(slot, signerOf(chosen), keccak256(abi.encodePacked(batch)), batch);
        propose(signerOf(chosen), slot, batch);
        assertBatch(slot, IRollupInbox.BatchStatus.Posted, keccak256(abi.encodePacked(batch)), "posted");
    }

    function test_propose_anEmptyBatch() public {
        warpToSlot(slot);
        propose(chosen, slot, new bytes32[](0));
        assertBatch(slot, IRollupInbox.BatchStatus.Posted, keccak256(""), "an empty batch is a batch");
    }

    function test_propose_revertsForOthers() public {
        warpToSlot(slot);
        address[3] memory strangers = [other, signerOf(other), carol];
        for (uint256 i; i < strangers.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(SlotInbox.NotSelected.selector, slot, strangers[i]));
            propose(strangers[i], slot, batch);
        }
        assertBatch(slot, IRollupInbox.BatchStatus.Open, bytes32(0), "still open");
    }

    function test_propose_revertsWhenNobodyIsSelected() public {
        warpToWindow(2);
        checkpoint(2);
        uint64 early = windowStart(2) + 3;
        warpToSlot(early);
        vm.expectRevert(abi.encodeWithSelector(SlotInbox.NotSelected.selector, early, alice));
        propose(alice, early, batch);
        warpPastGrace(early);
        assertBatch(early, IRollupInbox.BatchStatus.Missed, bytes32(0), "closes as Missed");
    }

    function test_propose_revertsWhenProposedAlready() public {
        warpToSlot(slot);
        propose(chosen, slot, batch);
        vm.expectRevert(abi.encodeWithSelector(SlotInbox.AlreadyProposed.selector, slot));
        propose(signerOf(chosen), slot, new bytes32[](0));
        vm.expectRevert(abi.encodeWithSelector(SlotInbox.AlreadyProposed.selector, slot));
        propose(chosen, slot, batch);
    }

    // -------------------------------------------------------------------------------- timing

    function test_propose_atTheSlotItself() public {
        warpToSlot(slot);
        propose(chosen, slot, batch);
    }

    function test_propose_atTheLastSecondOfTheGrace() public {
        vm.warp(GENESIS + uint256(slot + GRACE_SLOTS + 1) * SLOT_SECONDS - 1);
        propose(chosen, slot, batch);
        assertBatch(slot, IRollupInbox.BatchStatus.Posted, keccak256(abi.encodePacked(batch)), "slot + grace");
    }

    function test_propose_revertsBeforeTheSlot() public {
        vm.warp(GENESIS + uint256(slot) * SLOT_SECONDS - 1);
        vm.expectRevert(abi.encodeWithSelector(SlotInbox.SlotNotStarted.selector, slot, slot - 1));
        propose(chosen, slot, batch);
    }

    function test_propose_revertsAfterTheGrace() public {
        warpToSlot(slot + GRACE_SLOTS + 1);
        vm.expectRevert(abi.encodeWithSelector(SlotInbox.SlotClosed.selector, slot, slot + GRACE_SLOTS + 1));
        propose(chosen, slot, batch);
    }

    function test_batchOf_openUntilTheGraceEndsThenMissed() public {
        warpToSlot(slot - 1);
        assertBatch(slot, IRollupInbox.BatchStatus.Open, bytes32(0), "before the slot");
        for (uint64 current = slot; current <= slot + GRACE_SLOTS; ++current) {
            warpToSlot(current);
            assertBatch(slot, IRollupInbox.BatchStatus.Open, bytes32(0), "during slot..slot+grace");
        }
        warpToSlot(slot + GRACE_SLOTS + 1);
        assertBatch(slot, IRollupInbox.BatchStatus.Missed, bytes32(0), "at slot + grace + 1");
        warpToSlot(slot + 100_000);
        assertBatch(slot, IRollupInbox.BatchStatus.Missed, bytes32(0), "for good");
    }

    // ------------------------------------------------------------------------- checkpointing

    function test_propose_checkpointsTheSeedFromTheHeaders() public {
        uint64 late = windowStart(6) + 2;
        warpToSlot(late);
        (bytes memory anchor, bytes memory next) = mineAnchor(6, randaoOf(6));
        (address poster,) = registry.sequencerForSeed(ROLLUP, late, seedFor(6));
        vm.expectEmit(address(registry));
        emit SequencerRegistry.SeedCheckpointed(6, seedFor(6), block.number - 2, keccak256(anchor));
        vm.prank(poster);
        inbox.propose(late, batch, anchor, next);
        vm.assertEq(registry.seedOf(6), seedFor(6), "the seed is stored for everyone");
        assertBatch(late, IRollupInbox.BatchStatus.Posted, keccak256(abi.encodePacked(batch)), "posted");
    }

    function test_propose_ignoresHeadersOnceTheSeedIsStored() public {
        warpToSlot(slot);
        vm.prank(chosen);
        inbox.propose(slot, batch, hex"c0", hex"c0");
        vm.assertEq(registry.seedOf(5), seedFor(5), "unchanged");
    }

    function test_propose_revertsWithoutSeedOrHeaders() public {
        uint64 late = windowStart(6) + 2;
        warpToSlot(late);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.SeedUnknown.selector, 6));
        propose(alice, late, batch);
    }

    function test_propose_revertsWithHeadersOfAnotherWindow() public {
        uint64 late = windowStart(6) + 2;
        warpToSlot(late);
        (bytes memory anchor, bytes memory next) = mineAnchor(5, randaoOf(6));
        uint256 boundary = GENESIS + 5 * WINDOW_SLOTS * SLOT_SECONDS;
        uint256 anchorTime = GENESIS + 4 * WINDOW_SLOTS * SLOT_SECONDS - SLOT_SECONDS;
        vm.expectRevert(
            abi.encodeWithSelector(
                SequencerRegistry.NotAnchor.selector, 6, anchorTime, anchorTime + SLOT_SECONDS, boundary
            )
        );
        vm.prank(alice);
        inbox.propose(late, batch, anchor, next);
    }
}

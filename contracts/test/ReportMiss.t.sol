// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {SequencerRegistry} from "../src/SequencerRegistry.sol";
import {AccountabilityFixture} from "./utils/AccountabilityFixture.sol";

/// @notice SPEC §8, evicting a sequencer that does not show up. Alice is the rollup's only
///         sequencer (index 0, registered in window 0, active from window 3), so she is selected
///         for every slot; each test checkpoints the windows it needs. Carol reports.
contract ReportMissTest is AccountabilityFixture {
    uint256 internal constant OTHER_ROLLUP = 11;
    uint8 internal constant MAX_MISSES = 3;
    uint64 internal constant MISS_SPAN_WINDOWS = 8;

    function setUp() public override {
        super.setUp();
        registerAs(alice, ROLLUP);
        registry.registerRollup(OTHER_ROLLUP, admin, MIN_BOND);
        warpToWindow(5);
        checkpoint(5);
    }

    /// @dev Slot `offset` of `window`, its seed stored.
    function slotOf(uint64 window, uint64 offset) internal returns (uint64) {
        if (registry.seedOf(window) == bytes32(0)) checkpoint(window);
        return windowStart(window) + offset;
    }

    function report(uint64 slot) internal returns (uint256) {
        vm.prank(carol);
        return registry.reportMiss(ROLLUP, slot);
    }

    /// @dev Lets `slot` close without a batch and reports it at once.
    function missAndReport(uint64 slot) internal returns (uint256) {
        if (registry.currentSlot() < slot + GRACE_SLOTS + 1) warpPastGrace(slot);
        return report(slot);
    }

    /// @dev 1 % of what is left, as the registry rounds it.
    function afterPenalties(uint256 bond, uint256 count) internal pure returns (uint256) {
        for (uint256 i; i < count; ++i) {
            bond -= bond / 100;
        }
        return bond;
    }

    function misses() internal view returns (uint256) {
        return registry.getSequencer(ROLLUP, 0).misses;
    }

    // ------------------------------------------------------------------------------- penalty

    function test_reportMiss_paysOnePercentToTheReporter() public {
        uint64 slot = slotOf(5, 10);
        warpPastGrace(slot);
        uint256 before = carol.balance;
        vm.expectEmit(address(registry));
        emit SequencerRegistry.MissReported(ROLLUP, 0, slot, MIN_BOND / 100, 1);
        vm.assertEq(report(slot), MIN_BOND / 100, "MISS_PENALTY_BPS = 100");
        vm.assertEq(carol.balance - before, MIN_BOND / 100, "paid to the reporter");
        vm.assertEq(bondOf(0), MIN_BOND - MIN_BOND / 100, "taken from the bond");
        vm.assertEq(address(registry).balance, bondOf(0), "the rest is the bond");
        vm.assertTrue(registry.isReported(ROLLUP, slot), "reported");
        vm.assertFalse(registry.isReported(ROLLUP, slot + 1), "only that slot");
        SequencerRegistry.Sequencer memory record = registry.getSequencer(ROLLUP, 0);
        vm.assertEq(record.misses, 1, "one miss");
        vm.assertEq(record.missSpanStart, 0, "window 5 is in span 0, windows 0 to 7");
        vm.assertEq(record.activeUntil, 0, "one miss does not evict");
    }

    function test_reportMiss_penaltiesCompound() public {
        missAndReport(slotOf(5, 1));
        missAndReport(slotOf(5, 2));
        vm.assertEq(bondOf(0), afterPenalties(MIN_BOND, 2), "1 % of what is left, twice");
    }

    function test_reportMiss_aSlashedRecordPaysNothing() public {
        uint64 slot = slotOf(5, 10);
        warpPastGrace(slot);
        SequencerRegistry.Preconfirmation memory p = promiseFor(slot, hashes(1, "tx"), bytes32(0));
        bytes memory signature = signPromise(alice, p);
        vm.prank(bob);
        registry.slashPromise(p, signature, new bytes32[](0));
        vm.expectEmit(address(registry));
        emit SequencerRegistry.MissReported(ROLLUP, 0, slot, 0, 1);
        vm.assertEq(report(slot), 0, "no bond left");
    }

    // ------------------------------------------------------------------------------ refusals

    function test_reportMiss_revertsWhenReportedAlready() public {
        uint64 slot = slotOf(5, 10);
        missAndReport(slot);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.AlreadyReported.selector, ROLLUP, slot));
        report(slot);
    }

    function test_reportMiss_revertsForAPostedSlot() public {
        uint64 slot = slotOf(5, 10);
        warpToSlot(slot);
        propose(alice, slot, new bytes32[](0));
        warpPastGrace(slot);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotMissed.selector, ROLLUP, slot, 1));
        report(slot);
    }

    function test_reportMiss_revertsForAnOpenSlot() public {
        uint64 slot = slotOf(5, 10);
        for (uint64 current = slot - 1; current <= slot + GRACE_SLOTS; ++current) {
            warpToSlot(current);
            vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotMissed.selector, ROLLUP, slot, 0));
            report(slot);
        }
    }

    function test_reportMiss_lastSlotOfTheReportingWindow() public {
        uint64 slot = slotOf(5, 10);
        vm.warp(GENESIS + uint256(windowStart(5 + WITHDRAWAL_DELAY)) * SLOT_SECONDS - 1);
        vm.assertEq(report(slot), MIN_BOND / 100, "window 5 + 31 still reports");
    }

    function test_reportMiss_revertsTooLate() public {
        uint64 slot = slotOf(5, 10);
        warpToWindow(5 + WITHDRAWAL_DELAY);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.TooLate.selector, slot, 5 + WITHDRAWAL_DELAY));
        report(slot);
    }

    function test_reportMiss_revertsWithoutInbox() public {
        bytes memory proof = consent(signerKeyOf(alice), OTHER_ROLLUP, alice);
        vm.prank(alice);
        registry.register{value: MIN_BOND}(OTHER_ROLLUP, signerOf(alice), URL, proof);
        uint64 slot = slotOf(8, 0);
        warpPastGrace(slot);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NoInbox.selector, OTHER_ROLLUP, 8));
        vm.prank(carol);
        registry.reportMiss(OTHER_ROLLUP, slot);
    }

    function test_reportMiss_revertsWithoutSequencer() public {
        uint64 slot = slotOf(5, 10);
        warpPastGrace(slot);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NoSequencer.selector, OTHER_ROLLUP, slot));
        vm.prank(carol);
        registry.reportMiss(OTHER_ROLLUP, slot);
        uint64 early = slotOf(2, 0);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NoSequencer.selector, ROLLUP, early));
        report(early);
    }

    function test_reportMiss_revertsWithoutSeed() public {
        uint64 slot = windowStart(4) + 1;
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.SeedUnknown.selector, 4));
        report(slot);
    }

    // ------------------------------------------------------------------------------ eviction

    function test_reportMiss_evictsAtTheThirdMissWithinTheSpan() public {
        missAndReport(slotOf(8, 1));
        warpToWindow(9);
        missAndReport(slotOf(9, 1));
        warpToWindow(15);
        uint64 third = slotOf(15, 20);
        warpPastGrace(third);
        uint256 penalty = afterPenalties(MIN_BOND, 2) / 100;
        vm.expectEmit(address(registry));
        emit SequencerRegistry.MissReported(ROLLUP, 0, third, penalty, 3);
        vm.expectEmit(address(registry));
        emit SequencerRegistry.Evicted(ROLLUP, 0, 18);
        report(third);
        vm.assertEq(misses(), MAX_MISSES, "three misses");
        vm.assertEq(activeUntil(ROLLUP, 0), 18, "forced out from window 15 + 3");
        vm.assertEq(bondOf(0), afterPenalties(MIN_BOND, 3), "the rest of the bond stays");
    }

    function test_reportMiss_missesOnBothSidesOfASpanBoundaryDoNotAddUp() public {
        missAndReport(slotOf(7, 1));
        warpToWindow(8);
        missAndReport(slotOf(8, 1));
        missAndReport(slotOf(8, 2));
        vm.assertEq(misses(), 2, "two in span 1, one in span 0");
        vm.assertEq(activeUntil(ROLLUP, 0), 0, "not evicted");
    }

    function test_reportMiss_threeMissesInOneWindowEvict() public {
        missAndReport(slotOf(5, 1));
        missAndReport(slotOf(5, 2));
        vm.expectEmit(address(registry));
        emit SequencerRegistry.Evicted(ROLLUP, 0, 8);
        missAndReport(slotOf(5, 3));
    }

    function test_reportMiss_reportsInAnyOrderWithinTheSpanCount() public {
        uint64 first = slotOf(8, 1);
        uint64 second = slotOf(9, 1);
        warpToWindow(15);
        uint64 third = slotOf(15, 1);
        warpToWindow(16);
        report(third);
        report(first);
        vm.expectEmit(address(registry));
        emit SequencerRegistry.Evicted(ROLLUP, 0, 19);
        report(second);
    }

    function test_reportMiss_theOrderOfReportsDoesNotDecideAnEviction() public {
        // Misses in windows 5, 12 and 19 are in three spans whatever order they are reported in.
        uint64 first = slotOf(5, 1);
        warpToWindow(12);
        uint64 second = slotOf(12, 1);
        warpToWindow(19);
        uint64 third = slotOf(19, 1);
        warpToWindow(20);
        report(second);
        report(first);
        report(third);
        vm.assertEq(activeUntil(ROLLUP, 0), 0, "not evicted");
    }

    function test_reportMiss_aMissOutsideTheSpanRestartsTheCount() public {
        missAndReport(slotOf(5, 1));
        missAndReport(slotOf(6, 1));
        warpToWindow(5 + MISS_SPAN_WINDOWS);
        uint64 third = slotOf(5 + MISS_SPAN_WINDOWS, 1);
        warpPastGrace(third);
        vm.expectEmit(address(registry));
        emit SequencerRegistry.MissReported(ROLLUP, 0, third, afterPenalties(MIN_BOND, 2) / 100, 1);
        report(third);
        SequencerRegistry.Sequencer memory record = registry.getSequencer(ROLLUP, 0);
        vm.assertEq(record.misses, 1, "a new span");
        vm.assertEq(record.missSpanStart, 8, "span 1, from window 8");
        vm.assertEq(record.activeUntil, 0, "not evicted");

        missAndReport(slotOf(13, 2));
        warpToWindow(15);
        uint64 last = slotOf(15, 0);
        warpPastGrace(last);
        vm.expectEmit(address(registry));
        emit SequencerRegistry.Evicted(ROLLUP, 0, 18);
        report(last);
    }

    function test_reportMiss_missesAfterTheEvictionEvictOnce() public {
        missAndReport(slotOf(5, 1));
        missAndReport(slotOf(5, 2));
        missAndReport(slotOf(5, 3));
        vm.recordLogs();
        missAndReport(slotOf(5, 4));
        vm.assertEq(vm.getRecordedLogs().length, 1, "MissReported only, no second Evicted");
        vm.assertEq(misses(), 4, "counted");
        vm.assertEq(activeUntil(ROLLUP, 0), 8, "activeUntil unchanged");
    }

    function test_reportMiss_evictionKeepsAnEarlierExit() public {
        vm.prank(alice);
        registry.requestExit(ROLLUP, 0);
        warpToWindow(7);
        missAndReport(slotOf(5, 1));
        missAndReport(slotOf(6, 1));
        uint64 third = slotOf(7, 1);
        warpPastGrace(third);
        vm.expectEmit(address(registry));
        emit SequencerRegistry.Evicted(ROLLUP, 0, 8);
        report(third);
        vm.assertEq(activeUntil(ROLLUP, 0), 8, "the exit requested in window 5 stands");
    }

    function test_reportMiss_evictedRecordIsNoLongerSelected() public {
        missAndReport(slotOf(5, 1));
        missAndReport(slotOf(5, 2));
        missAndReport(slotOf(5, 3));
        warpToWindow(7);
        vm.assertEq(selected(slotOf(7, 31)), alice, "still selected until activeUntil");
        (, uint256 index) = registry.sequencerAt(ROLLUP, slotOf(8, 0));
        vm.assertEq(index, NONE, "nobody from window 8");
    }

    function test_reportMiss_withdrawAfterEvictionPaysTheRest() public {
        missAndReport(slotOf(5, 1));
        missAndReport(slotOf(5, 2));
        missAndReport(slotOf(5, 3));
        uint256 rest = afterPenalties(MIN_BOND, 3);
        warpToWindow(8 + WITHDRAWAL_DELAY - 1);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.WithdrawalTooEarly.selector, 39, 40));
        vm.prank(alice);
        registry.withdraw(ROLLUP, 0);

        warpToWindow(8 + WITHDRAWAL_DELAY);
        uint256 before = alice.balance;
        vm.expectEmit(address(registry));
        emit SequencerRegistry.Withdrawn(ROLLUP, 0, rest);
        vm.prank(alice);
        registry.withdraw(ROLLUP, 0);
        vm.assertEq(alice.balance - before, rest, "the bond less three penalties");
        vm.assertEq(address(registry).balance, 0, "nothing left behind");
        vm.assertTrue(registry.getSequencer(ROLLUP, 0).withdrawn, "withdrawn");
    }

    // ---------------------------------------------------------------------------------- fuzz

    /// @dev Two to seven misses in increasing windows (gaps of 0 to 10 windows), each reported
    ///      as soon as its slot closes. Eviction happens exactly at the report that makes three
    ///      misses in one span (windows `8k .. 8k + 7`); misses after the record's forced exit
    ///      have no sequencer to report.
    function testFuzz_reportMiss_evictsExactlyPerTheSpanRule(uint256 gaps, uint256 offsets, uint256 count) public {
        count = bound(count, 2, 7);
        uint64 last = windowStart(5);
        uint64 spanStart;
        uint256 spanMisses;
        uint64 evictedUntil;
        uint256 reported;
        for (uint256 i; i < count; ++i) {
            uint64 window = registry.windowOf(last) + uint64((gaps >> (8 * i)) % 11);
            uint64 slot = windowStart(window) + uint64((offsets >> (8 * i)) % WINDOW_SLOTS);
            if (slot <= last) slot = last + 1;
            (last, window) = (slot, registry.windowOf(slot));
            if (registry.currentSlot() < slot) warpToSlot(slot);
            slotOf(window, 0);
            warpPastGrace(slot);
            if (evictedUntil != 0 && window >= evictedUntil) {
                vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NoSequencer.selector, ROLLUP, slot));
                report(slot);
                continue;
            }
            if (spanMisses != 0 && window / MISS_SPAN_WINDOWS == spanStart / MISS_SPAN_WINDOWS) {
                ++spanMisses;
            } else {
                (spanStart, spanMisses) = (window, 1);
            }
            report(slot);
            ++reported;
            vm.assertEq(misses(), spanMisses, "misses of the span");
            if (spanMisses == MAX_MISSES && evictedUntil == 0) evictedUntil = registry.currentWindow() + 3;
            vm.assertEq(activeUntil(ROLLUP, 0), evictedUntil, "evicted exactly at the third miss of a span");
        }
        vm.assertEq(bondOf(0), afterPenalties(MIN_BOND, reported), "1 % per reported miss");
    }
}

// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {SequencerRegistry} from "../src/SequencerRegistry.sol";
import {AccountabilityFixture} from "./utils/AccountabilityFixture.sol";

/// @notice SPEC §8, the rollup inbox: `setInbox` is in force at once while the rollup never had a
///         sequencer record, and from window X + 3 + 32 afterwards (a change not in force yet is
///         replaced); `inboxAt` answers per window. Rollup 11 starts without an inbox.
contract RollupInboxTest is AccountabilityFixture {
    uint256 internal constant NEW_ROLLUP = 11;
    address internal constant INBOX_A = address(0x1A);
    address internal constant INBOX_B = address(0x1B);
    address internal constant INBOX_C = address(0x1C);
    address internal constant INBOX_D = address(0x1D);

    function setUp() public override {
        super.setUp();
        registry.registerRollup(NEW_ROLLUP, admin, MIN_BOND);
    }

    function setInbox(address inbox_) internal {
        vm.prank(admin);
        registry.setInbox(NEW_ROLLUP, inbox_);
    }

    function expectInboxSet(address inbox_, uint64 fromWindow, bool replacesLast) internal {
        vm.expectEmit(address(registry));
        emit SequencerRegistry.InboxSet(NEW_ROLLUP, inbox_, fromWindow, replacesLast);
    }

    function assertInbox(uint64 fromWindow, uint64 toWindow, address expected, string memory message) internal view {
        for (uint64 window = fromWindow; window <= toWindow; ++window) {
            vm.assertEq(registry.inboxAt(NEW_ROLLUP, window), expected, message);
        }
    }

    // ---------------------------------------------------------------------------- at once

    function test_inboxAt_noneUntilNamed() public view {
        vm.assertEq(registry.inboxAt(NEW_ROLLUP, 0), address(0), "none");
        vm.assertEq(registry.inboxAt(NEW_ROLLUP, type(uint64).max), address(0), "none, ever");
        vm.assertEq(registry.inboxAt(12345, 7), address(0), "unknown rollup");
        vm.assertEq(registry.inboxAt(ROLLUP, 0), address(inbox), "the fixture's inbox judges every window");
    }

    function test_setInbox_atOnceWhileTheRollupNeverHadASequencer() public {
        warpToWindow(50);
        expectInboxSet(INBOX_A, 0, false);
        setInbox(INBOX_A);
        vm.assertEq(registry.inboxAt(NEW_ROLLUP, 0), INBOX_A, "from window 0");
        vm.assertEq(registry.inboxAt(NEW_ROLLUP, 50), INBOX_A, "the current window");
        vm.assertEq(registry.inboxAt(NEW_ROLLUP, type(uint64).max), INBOX_A, "every later window");

        expectInboxSet(INBOX_B, 0, true);
        setInbox(INBOX_B);
        vm.assertEq(registry.inboxAt(NEW_ROLLUP, 0), INBOX_B, "replaced at once, for every window");
        vm.assertEq(registry.inboxAt(NEW_ROLLUP, 50), INBOX_B, "replaced at once, for every window");
    }

    // ---------------------------------------------------------------------------- delayed

    /// @dev Inbox A at once, then Alice registers in window 0: from then on a change waits.
    function namedThenRegistered() internal {
        setInbox(INBOX_A);
        registerAs(alice, NEW_ROLLUP);
    }

    function test_setInbox_delayedOnceTheRollupHadASequencer() public {
        namedThenRegistered();
        warpToWindow(2);
        expectInboxSet(INBOX_B, 37, false);
        setInbox(INBOX_B);
        assertInbox(0, 36, INBOX_A, "A until window 2 + 3 + 32");
        assertInbox(37, 40, INBOX_B, "B from window 37");
    }

    function test_setInbox_replacesAPendingChange() public {
        namedThenRegistered();
        warpToWindow(2);
        setInbox(INBOX_B);
        warpToWindow(10);
        expectInboxSet(INBOX_C, 45, true);
        setInbox(INBOX_C);
        assertInbox(0, 44, INBOX_A, "B never in force: A until window 10 + 35");
        assertInbox(45, 46, INBOX_C, "C from window 45");
    }

    function test_setInbox_replacesAChangeDueNextWindow() public {
        namedThenRegistered();
        warpToWindow(2);
        setInbox(INBOX_B);
        warpToWindow(36);
        expectInboxSet(INBOX_C, 71, true);
        setInbox(INBOX_C);
        assertInbox(36, 70, INBOX_A, "B due in 37 was still pending in 36");
        vm.assertEq(registry.inboxAt(NEW_ROLLUP, 71), INBOX_C, "C from window 71");
    }

    function test_setInbox_appendsOnceTheLastChangeIsInForce() public {
        namedThenRegistered();
        warpToWindow(2);
        setInbox(INBOX_B);
        warpToWindow(37);
        expectInboxSet(INBOX_C, 72, false);
        setInbox(INBOX_C);
        warpToWindow(80);
        expectInboxSet(INBOX_D, 115, false);
        setInbox(INBOX_D);
        assertInbox(0, 36, INBOX_A, "A in windows 0..36");
        assertInbox(37, 71, INBOX_B, "B in windows 37..71");
        assertInbox(72, 114, INBOX_C, "C in windows 72..114");
        assertInbox(115, 116, INBOX_D, "D from window 115");
    }

    function test_setInbox_delayedWhenFirstNamedAfterARegistration() public {
        registerAs(alice, NEW_ROLLUP);
        expectInboxSet(INBOX_A, 35, false);
        setInbox(INBOX_A);
        assertInbox(0, 34, address(0), "no inbox: the record's first windows cannot be judged");
        vm.assertEq(registry.inboxAt(NEW_ROLLUP, 35), INBOX_A, "A from window 35");
    }

    function test_setInbox_delayedEvenAfterEveryRecordLeft() public {
        registerAs(alice, NEW_ROLLUP);
        vm.prank(alice);
        registry.requestExit(NEW_ROLLUP, 0);
        warpToWindow(40);
        vm.prank(alice);
        registry.withdraw(NEW_ROLLUP, 0);
        expectInboxSet(INBOX_A, 75, false);
        setInbox(INBOX_A);
        vm.assertEq(registry.inboxAt(NEW_ROLLUP, 74), address(0), "a rollup that had a record waits");
    }

    function test_setInbox_zeroRemovesTheInboxFromTheSameDelay() public {
        registerAs(alice, ROLLUP);
        warpToWindow(1);
        vm.expectEmit(address(registry));
        emit SequencerRegistry.InboxSet(ROLLUP, address(0), 36, false);
        vm.prank(admin);
        registry.setInbox(ROLLUP, address(0));
        vm.assertEq(registry.inboxAt(ROLLUP, 35), address(inbox), "in force until window 36");
        vm.assertEq(registry.inboxAt(ROLLUP, 36), address(0), "none from window 36");
    }

    // ---------------------------------------------------------------------------- refused

    function test_setInbox_revertsForNonAdmin() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotRollupAdmin.selector, NEW_ROLLUP, carol));
        vm.prank(carol);
        registry.setInbox(NEW_ROLLUP, INBOX_A);
    }

    function test_setInbox_revertsForThePendingAdmin() public {
        vm.prank(admin);
        registry.transferAdmin(NEW_ROLLUP, carol);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotRollupAdmin.selector, NEW_ROLLUP, carol));
        vm.prank(carol);
        registry.setInbox(NEW_ROLLUP, INBOX_A);
        vm.prank(carol);
        registry.acceptAdmin(NEW_ROLLUP);
        vm.prank(carol);
        registry.setInbox(NEW_ROLLUP, INBOX_A);
        vm.assertEq(registry.inboxAt(NEW_ROLLUP, 0), INBOX_A, "the new admin may");
    }

    function test_setInbox_revertsForUnknownRollup() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.UnknownRollup.selector, 99));
        vm.prank(admin);
        registry.setInbox(99, INBOX_A);
    }
}

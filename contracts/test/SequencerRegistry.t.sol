// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {SequencerRegistry} from "../src/SequencerRegistry.sol";
import {RegistryFixture} from "./utils/RegistryFixture.sol";

/// @dev An operator contract that refuses ETH, to exercise `TransferFailed`.
contract RejectingOperator {
    function register(SequencerRegistry registry, uint256 chainId) external payable returns (uint256) {
        return registry.register{value: msg.value}(chainId, address(this), "http://127.0.0.1:1", "");
    }

    function exitAndWithdraw(SequencerRegistry registry, uint256 chainId, uint256 index, bool exit) external {
        if (exit) registry.requestExit(chainId, index);
        else registry.withdraw(chainId, index);
    }
}

contract SequencerRegistryTest is RegistryFixture {
    // ---------------------------------------------------------------------------------- time

    function test_constants_matchSpec() public view {
        vm.assertEq(registry.ACTIVATION_DELAY(), 3, "ACTIVATION_DELAY");
        vm.assertEq(registry.WITHDRAWAL_DELAY(), WITHDRAWAL_DELAY, "WITHDRAWAL_DELAY = 32 windows");
        vm.assertEq(registry.MAX_DRAWS(), 16, "MAX_DRAWS");
        vm.assertEq(registry.MAX_SEQUENCERS(), 256, "MAX_SEQUENCERS");
    }

    function test_constructor_exposesTiming() public view {
        vm.assertEq(registry.genesisTime(), GENESIS, "genesisTime");
        vm.assertEq(registry.slotSeconds(), SLOT_SECONDS, "slotSeconds");
        vm.assertEq(registry.windowSlots(), WINDOW_SLOTS, "windowSlots");
    }

    function test_constructor_revertsOnZeroSlotSeconds() public {
        vm.expectRevert(SequencerRegistry.InvalidTiming.selector);
        new SequencerRegistry(GENESIS, 0, WINDOW_SLOTS);
    }

    function test_constructor_revertsOnZeroWindowSlots() public {
        vm.expectRevert(SequencerRegistry.InvalidTiming.selector);
        new SequencerRegistry(GENESIS, SLOT_SECONDS, 0);
    }

    function test_constructor_revertsOnWindowsLongerThanTheHashHistoryAllows() public {
        vm.assertEq(registry.MAX_WINDOW_SLOTS(), 240, "8191 / (32 + 2)");
        new SequencerRegistry(GENESIS, SLOT_SECONDS, 240);
        vm.expectRevert(SequencerRegistry.InvalidTiming.selector);
        new SequencerRegistry(GENESIS, SLOT_SECONDS, 241);
    }

    function test_slotAt_revertsBeforeGenesis() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.BeforeGenesis.selector, GENESIS - 1, GENESIS));
        registry.slotAt(GENESIS - 1);
    }

    function test_currentSlotAndWindow_followTheClock() public {
        vm.warp(GENESIS + 12 * 63 + 11);
        vm.assertEq(registry.currentSlot(), 63, "slot 63 ends at +767 s");
        vm.assertEq(registry.currentWindow(), 1, "slot 63 is in window 1");
        vm.warp(GENESIS + 12 * 64);
        vm.assertEq(registry.currentSlot(), 64, "slot 64");
        vm.assertEq(registry.currentWindow(), 2, "slot 64 starts window 2");
    }

    function testFuzz_slotAt_matchesFormula(uint64 timestamp) public view {
        vm.assume(timestamp >= GENESIS);
        vm.assertEq(registry.slotAt(timestamp), (timestamp - GENESIS) / SLOT_SECONDS, "slot formula");
    }

    // ------------------------------------------------------------------------------- rollups

    function test_registerRollup_storesAndEmits() public {
        vm.expectEmit(address(registry));
        emit SequencerRegistry.RollupRegistered(42, alice, 3 ether);
        registry.registerRollup(42, alice, 3 ether);
        (address rollupAdmin, uint256 minBond, uint256 count) = registry.rollup(42);
        vm.assertEq(rollupAdmin, alice, "admin");
        vm.assertEq(minBond, 3 ether, "minBond");
        vm.assertEq(count, 0, "no sequencers yet");
    }

    function test_registerRollup_revertsOnChainIdZero() public {
        vm.expectRevert(SequencerRegistry.InvalidChainId.selector);
        registry.registerRollup(0, admin, 0);
    }

    function test_registerRollup_revertsOnZeroAdmin() public {
        vm.expectRevert(SequencerRegistry.ZeroAddress.selector);
        registry.registerRollup(42, address(0), 0);
    }

    function test_registerRollup_isFirstComeFirstServed() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.RollupAlreadyRegistered.selector, ROLLUP));
        vm.prank(bob);
        registry.registerRollup(ROLLUP, bob, 0);
    }

    function test_setMinBond_appliesToFutureRegistrations() public {
        registerAs(alice, ROLLUP);
        vm.expectEmit(address(registry));
        emit SequencerRegistry.MinBondUpdated(ROLLUP, 5 ether);
        vm.prank(admin);
        registry.setMinBond(ROLLUP, 5 ether);

        vm.assertEq(registry.getSequencer(ROLLUP, 0).bond, MIN_BOND, "existing bond unchanged");
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.BondTooLow.selector, 5 ether, MIN_BOND));
        registerAs(bob, ROLLUP);
    }

    function test_setMinBond_revertsForNonAdmin() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotRollupAdmin.selector, ROLLUP, alice));
        vm.prank(alice);
        registry.setMinBond(ROLLUP, 0);
    }

    function test_setMinBond_revertsForUnknownRollup() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.UnknownRollup.selector, 7));
        registry.setMinBond(7, 0);
    }

    // ---------------------------------------------------------------------------- register

    function test_register_activatesThreeWindowsLater() public {
        warpToWindow(5);
        vm.expectEmit(address(registry));
        emit SequencerRegistry.SequencerRegistered(ROLLUP, 0, alice, signerOf(alice), URL, 8, 8, MIN_BOND);
        uint256 index = registerAs(alice, ROLLUP);

        SequencerRegistry.Sequencer memory record = registry.getSequencer(ROLLUP, index);
        vm.assertEq(index, 0, "first index");
        vm.assertEq(record.operator, alice, "operator");
        vm.assertEq(record.signer, signerOf(alice), "signer");
        vm.assertEq(record.activeFrom, 8, "activeFrom = 5 + 3");
        vm.assertEq(record.activeUntil, 0, "no exit");
        vm.assertEq(record.existsFrom, 8, "a pushed index exists from activeFrom");
        vm.assertEq(record.bond, MIN_BOND, "bond");
        vm.assertEq(record.rpcUrl, URL, "rpcUrl");
        vm.assertFalse(registry.isActive(ROLLUP, index, 7), "inactive before activeFrom");
        vm.assertTrue(registry.isActive(ROLLUP, index, 8), "active from activeFrom");
        vm.assertTrue(registry.isActive(ROLLUP, index, type(uint64).max), "active forever without exit");
        vm.assertEq(address(registry).balance, MIN_BOND, "bond held");
    }

    function test_register_sameOperatorOnManyRollups() public {
        registry.registerRollup(11, admin, MIN_BOND);
        vm.assertEq(registerAs(alice, ROLLUP), 0, "index on rollup 10");
        vm.assertEq(registerAs(bob, ROLLUP), 1, "bob on rollup 10");
        vm.assertEq(registerAs(alice, 11), 0, "index on rollup 11");
        (,, uint256 count) = registry.rollup(11);
        vm.assertEq(count, 1, "rollup 11 has one record");
    }

    function test_register_revertsForUnknownRollup() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.UnknownRollup.selector, 99));
        registerAs(alice, 99);
    }

    function test_register_revertsBelowMinBond() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.BondTooLow.selector, MIN_BOND, MIN_BOND - 1));
        vm.prank(alice);
        registry.register{value: MIN_BOND - 1}(ROLLUP, alice, URL, "");
    }

    function test_register_revertsAboveBondCapacity() public {
        uint256 value = uint256(type(uint88).max) + 1;
        vm.deal(alice, value);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.BondTooLarge.selector, value));
        vm.prank(alice);
        registry.register{value: value}(ROLLUP, alice, URL, "");
    }

    function test_register_revertsOnZeroSigner() public {
        vm.expectRevert(SequencerRegistry.ZeroAddress.selector);
        vm.prank(alice);
        registry.register{value: MIN_BOND}(ROLLUP, address(0), URL, "");
    }

    function test_register_revertsOnEmptyEndpoint() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.InvalidEndpoint.selector, 0));
        vm.prank(alice);
        registry.register{value: MIN_BOND}(ROLLUP, alice, "", "");
    }

    function test_register_revertsOnOverlongEndpoint() public {
        string memory url = string(new bytes(257));
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.InvalidEndpoint.selector, 257));
        vm.prank(alice);
        registry.register{value: MIN_BOND}(ROLLUP, alice, url, "");
    }

    function test_register_revertsBeforeGenesis() public {
        vm.warp(GENESIS - 1);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.BeforeGenesis.selector, GENESIS - 1, GENESIS));
        registerAs(alice, ROLLUP);
    }

    function test_register_revertsWhenRollupFull() public {
        for (uint256 i; i < registry.MAX_SEQUENCERS(); ++i) {
            registerAs(alice, ROLLUP);
        }
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.RollupFull.selector, ROLLUP));
        registerAs(bob, ROLLUP);
    }

    function test_register_reusesFreedIndex() public {
        registerAs(alice, ROLLUP);
        registerAs(bob, ROLLUP);
        vm.prank(alice);
        registry.requestExit(ROLLUP, 0); // activeUntil = 3, withdrawable from window 3 + 32
        warpToWindow(35);
        vm.prank(alice);
        registry.withdraw(ROLLUP, 0);

        vm.expectEmit(address(registry));
        emit SequencerRegistry.SequencerRegistered(ROLLUP, 0, bob, signerOf(bob), URL, 38, 3, MIN_BOND);
        vm.assertEq(registerAs(bob, ROLLUP), 0, "freed index reused");
        SequencerRegistry.Sequencer memory record = registry.getSequencer(ROLLUP, 0);
        vm.assertEq(record.operator, bob, "new operator");
        vm.assertEq(record.activeFrom, 38, "activeFrom = 35 + 3");
        vm.assertEq(record.existsFrom, 3, "the index keeps its existsFrom");
        vm.assertEq(record.activeUntil, 0, "exit cleared");
        vm.assertFalse(record.withdrawn, "fresh record");
        (,, uint256 count) = registry.rollup(ROLLUP);
        vm.assertEq(count, 2, "array did not grow");
        vm.assertEq(registerAs(alice, ROLLUP), 2, "no free index left: append");
    }

    // ------------------------------------------------------------------------ updateEndpoint

    function test_updateEndpoint_changesAtOnce() public {
        registerAs(alice, ROLLUP);
        vm.expectEmit(address(registry));
        emit SequencerRegistry.EndpointUpdated(ROLLUP, 0, "http://10.0.0.1:8545");
        vm.prank(alice);
        registry.updateEndpoint(ROLLUP, 0, "http://10.0.0.1:8545");
        vm.assertEq(registry.getSequencer(ROLLUP, 0).rpcUrl, "http://10.0.0.1:8545", "rpcUrl");
    }

    function test_updateEndpoint_revertsForOthers() public {
        registerAs(alice, ROLLUP);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotOperator.selector, ROLLUP, 0, bob));
        vm.prank(bob);
        registry.updateEndpoint(ROLLUP, 0, URL);
    }

    function test_updateEndpoint_revertsForUnknownIndex() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.UnknownSequencer.selector, ROLLUP, 0));
        vm.prank(alice);
        registry.updateEndpoint(ROLLUP, 0, URL);
    }

    function test_updateEndpoint_revertsOnInvalidEndpoint() public {
        registerAs(alice, ROLLUP);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.InvalidEndpoint.selector, 0));
        vm.prank(alice);
        registry.updateEndpoint(ROLLUP, 0, "");
    }

    function test_updateEndpoint_revertsAfterWithdrawal() public {
        exitAndWithdrawAlice();
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.AlreadyWithdrawn.selector, ROLLUP, 0));
        vm.prank(alice);
        registry.updateEndpoint(ROLLUP, 0, URL);
    }

    // --------------------------------------------------------------------------- requestExit

    function test_requestExit_endsThreeWindowsLater() public {
        registerAs(alice, ROLLUP);
        warpToWindow(10);
        vm.expectEmit(address(registry));
        emit SequencerRegistry.ExitRequested(ROLLUP, 0, 13);
        vm.prank(alice);
        registry.requestExit(ROLLUP, 0);
        vm.assertEq(activeUntil(ROLLUP, 0), 13, "activeUntil = 10 + 3");
        vm.assertTrue(registry.isActive(ROLLUP, 0, 12), "active in the last window");
        vm.assertFalse(registry.isActive(ROLLUP, 0, 13), "inactive from activeUntil");
    }

    function test_requestExit_beforeActivationMeansNeverActive() public {
        warpToWindow(4);
        registerAs(alice, ROLLUP);
        warpToWindow(4);
        vm.prank(alice);
        registry.requestExit(ROLLUP, 0);
        vm.assertEq(activeUntil(ROLLUP, 0), activeFrom(ROLLUP, 0), "activeUntil clamped to activeFrom");
        for (uint64 w; w < 20; ++w) {
            vm.assertFalse(registry.isActive(ROLLUP, 0, w), "never active");
        }
    }

    function test_requestExit_revertsWhenRepeated() public {
        registerAs(alice, ROLLUP);
        vm.startPrank(alice);
        registry.requestExit(ROLLUP, 0);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.ExitAlreadyRequested.selector, ROLLUP, 0, 3));
        registry.requestExit(ROLLUP, 0);
        vm.stopPrank();
    }

    function test_requestExit_revertsForOthers() public {
        registerAs(alice, ROLLUP);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotOperator.selector, ROLLUP, 0, bob));
        vm.prank(bob);
        registry.requestExit(ROLLUP, 0);
    }

    // ------------------------------------------------------------------------------ withdraw

    function test_withdraw_refundsAfterDelay() public {
        registerAs(alice, ROLLUP);
        vm.prank(alice);
        registry.requestExit(ROLLUP, 0); // activeUntil = 3, withdrawable from window 3 + 32
        warpToWindow(35);
        uint256 before = alice.balance;
        vm.expectEmit(address(registry));
        emit SequencerRegistry.Withdrawn(ROLLUP, 0, MIN_BOND);
        vm.prank(alice);
        registry.withdraw(ROLLUP, 0);
        vm.assertEq(alice.balance, before + MIN_BOND, "bond returned");
        vm.assertEq(address(registry).balance, 0, "nothing left");
        SequencerRegistry.Sequencer memory record = registry.getSequencer(ROLLUP, 0);
        vm.assertTrue(record.withdrawn, "marked withdrawn");
        vm.assertEq(record.bond, 0, "bond cleared");
    }

    function test_withdraw_revertsOneWindowEarly() public {
        registerAs(alice, ROLLUP);
        vm.prank(alice);
        registry.requestExit(ROLLUP, 0);
        vm.warp(GENESIS + 35 * WINDOW_SLOTS * SLOT_SECONDS - 1);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.WithdrawalTooEarly.selector, 34, 35));
        vm.prank(alice);
        registry.withdraw(ROLLUP, 0);
    }

    function test_withdraw_revertsWithoutExit() public {
        registerAs(alice, ROLLUP);
        warpToWindow(100);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.ExitNotRequested.selector, ROLLUP, 0));
        vm.prank(alice);
        registry.withdraw(ROLLUP, 0);
    }

    function test_withdraw_revertsTwice() public {
        exitAndWithdrawAlice();
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.AlreadyWithdrawn.selector, ROLLUP, 0));
        vm.prank(alice);
        registry.withdraw(ROLLUP, 0);
    }

    function test_withdraw_revertsForOthers() public {
        registerAs(alice, ROLLUP);
        vm.prank(alice);
        registry.requestExit(ROLLUP, 0);
        warpToWindow(35);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotOperator.selector, ROLLUP, 0, bob));
        vm.prank(bob);
        registry.withdraw(ROLLUP, 0);
    }

    function test_withdraw_revertsWhenOperatorRejectsEth() public {
        RejectingOperator operator = new RejectingOperator();
        uint256 index = operator.register{value: MIN_BOND}(registry, ROLLUP);
        operator.exitAndWithdraw(registry, ROLLUP, index, true);
        warpToWindow(35);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.TransferFailed.selector, address(operator), MIN_BOND));
        operator.exitAndWithdraw(registry, ROLLUP, index, false);
        vm.assertFalse(registry.getSequencer(ROLLUP, index).withdrawn, "state rolled back");
    }

    function test_getSequencer_revertsForUnknownIndex() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.UnknownSequencer.selector, ROLLUP, 3));
        registry.getSequencer(ROLLUP, 3);
    }

    function test_isActive_revertsForUnknownIndex() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.UnknownSequencer.selector, ROLLUP, 0));
        registry.isActive(ROLLUP, 0, 0);
    }

    // ------------------------------------------------------------------------------ fuzzing

    function testFuzz_register_activeFromIsThreeWindowsAhead(uint32 secondsAfterGenesis) public {
        vm.warp(uint256(GENESIS) + secondsAfterGenesis);
        uint256 index = registerAs(alice, ROLLUP);
        vm.assertEq(activeFrom(ROLLUP, index), uint256(registry.currentWindow()) + 3, "activeFrom");
    }

    function testFuzz_requestExit_neverBeforeActiveFrom(uint32 registeredAt, uint32 exitDelay) public {
        vm.warp(uint256(GENESIS) + registeredAt);
        uint256 index = registerAs(alice, ROLLUP);
        vm.warp(uint256(GENESIS) + registeredAt + exitDelay);
        vm.prank(alice);
        registry.requestExit(ROLLUP, index);
        uint256 expected = uint256(registry.currentWindow()) + 3;
        if (expected < activeFrom(ROLLUP, index)) expected = activeFrom(ROLLUP, index);
        vm.assertEq(activeUntil(ROLLUP, index), expected, "activeUntil = max(now + 3, activeFrom)");
    }

    function testFuzz_withdraw_onlyFromActiveUntilPlusDelay(uint32 exitAt, uint32 withdrawDelay) public {
        uint256 index = registerAs(alice, ROLLUP);
        vm.warp(uint256(GENESIS) + exitAt);
        vm.prank(alice);
        registry.requestExit(ROLLUP, index);
        uint256 availableFrom = activeUntil(ROLLUP, index) + WITHDRAWAL_DELAY;
        vm.warp(uint256(GENESIS) + exitAt + withdrawDelay);
        uint64 window = registry.currentWindow();
        if (window < availableFrom) {
            vm.expectRevert(
                abi.encodeWithSelector(SequencerRegistry.WithdrawalTooEarly.selector, window, availableFrom)
            );
        }
        vm.prank(alice);
        registry.withdraw(ROLLUP, index);
    }

    function testFuzz_register_bondAtLeastMinBond(uint96 value) public {
        vm.deal(alice, value);
        if (value < MIN_BOND) {
            vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.BondTooLow.selector, MIN_BOND, value));
        } else if (value > type(uint88).max) {
            vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.BondTooLarge.selector, value));
        }
        vm.prank(alice);
        registry.register{value: value}(ROLLUP, alice, URL, "");
    }

    function exitAndWithdrawAlice() internal {
        registerAs(alice, ROLLUP);
        vm.prank(alice);
        registry.requestExit(ROLLUP, 0);
        warpToWindow(35);
        vm.prank(alice);
        registry.withdraw(ROLLUP, 0);
    }
}

/// @notice Gas of `register` with cold storage: the rollup is registered in `setUp`, which forge
///         runs as its own transaction, and each test registers the rollup's first sequencer
///         (which also pays for the array's length slot) with a 47-byte endpoint, once signing with
///         the operator's own key and once naming another key with its consent signature.
contract RegisterGasTest is RegistryFixture {
    string internal constant LONG_URL = "https://sequencer-1.rollup.example.org/preconf";

    function test_register_gasCold_signerIsOperator() public {
        warpToWindow(3);
        vm.prank(alice);
        registry.register{value: MIN_BOND}(ROLLUP, alice, LONG_URL, "");
        uint256 gasUsed = vm.snapshotGasLastCall("register (cold, first sequencer, 47-byte rpcUrl, signer == operator)");
        vm.assertLe(gasUsed, 150_000, "register <= 150k gas");
    }

    function test_register_gasCold_signerWithConsentProof() public {
        warpToWindow(3);
        bytes memory proof = consent(signerKeyOf(alice), ROLLUP, alice);
        vm.prank(alice);
        registry.register{value: MIN_BOND}(ROLLUP, signerOf(alice), LONG_URL, proof);
        uint256 gasUsed = vm.snapshotGasLastCall("register (cold, first sequencer, 47-byte rpcUrl, signer proof)");
        vm.assertLe(gasUsed, 160_000, "register with a consent proof <= 160k gas");
    }
}

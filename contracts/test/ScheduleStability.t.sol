// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {SequencerRegistry} from "../src/SequencerRegistry.sol";
import {RegistryFixture} from "./utils/RegistryFixture.sol";

/// @notice SPEC §4 and §5: nothing included after anchor(W) — a registration (pushed or reusing a
///         freed index), an exit, a withdrawal, an endpoint or admin change — changes the
///         selection of window W. anchor(W) lies in window W-2 or earlier, so once the chain is in
///         window C the schedules of C+1 and C+2 are fixed.
contract ScheduleStabilityTest is RegistryFixture {
    uint256 internal constant OPERATORS = 10;
    uint256 internal constant WINDOW_SECONDS = WINDOW_SLOTS * SLOT_SECONDS;

    /// Freed indices not reused yet.
    uint256 internal freeCount;
    bool internal reused;
    bool internal withdrew;

    function operatorAt(uint256 i) internal pure returns (address) {
        // forge-lint: disable-next-line(unsafe-typecast)
        return address(uint160(0x1000 + i));
    }

    function windowStart(uint64 window) internal pure returns (uint256) {
        return GENESIS + uint256(window) * WINDOW_SECONDS;
    }

    /// @dev The state every test starts from, in window 71:
    ///      - window 0: operators 0..5 register (indices 0..5, existing from window 3); 0, 1 and 2
    ///        exit at once (active until window 3, withdrawable from window 35);
    ///      - window 36: operators 6 and 7 push indices 6 and 7 (existing from window 39); 7 exits at
    ///        once (never active, withdrawable from window 71);
    ///      - window 71: operator 8 pushes index 8 (existing from window 74), operator 3 exits
    ///        (active until window 74), operators 0 and 7 withdraw. Indices 7 and 0 are free (7 is
    ///        reused first), the bonds of 1 and 2 are left to withdraw.
    ///      So L(72) = L(73) = 8 comes from the binary search, and a reuse of index 7 that moved its
    ///      `existsFrom` would shrink it.
    function setUp() public override {
        super.setUp();
        for (uint256 i; i < OPERATORS; ++i) {
            vm.deal(operatorAt(i), 100 ether);
        }
        for (uint256 i; i < 6; ++i) {
            registerAs(operatorAt(i), ROLLUP);
            if (i < 3) exit(i);
        }
        warpToWindow(36);
        registerAs(operatorAt(6), ROLLUP);
        registerAs(operatorAt(7), ROLLUP);
        exit(7);
        warpToWindow(71);
        registerAs(operatorAt(8), ROLLUP);
        exit(3);
        vm.prank(operatorAt(0));
        registry.withdraw(ROLLUP, 0);
        vm.prank(operatorAt(7));
        registry.withdraw(ROLLUP, 7);
        freeCount = 2;
    }

    function exit(uint256 index) internal {
        vm.prank(registry.getSequencer(ROLLUP, index).operator);
        registry.requestExit(ROLLUP, index);
    }

    // ------------------------------------------------------------------------ existsFrom, L(W)

    function test_setUp_lengthsAsOfWindows() public view {
        vm.assertEq(registry.sequencerCountAt(ROLLUP, 2), 0, "L(2): nothing exists before window 3");
        vm.assertEq(registry.sequencerCountAt(ROLLUP, 3), 6, "L(3)");
        vm.assertEq(registry.sequencerCountAt(ROLLUP, 38), 6, "L(38): indices 6 and 7 exist from 39");
        vm.assertEq(registry.sequencerCountAt(ROLLUP, 39), 8, "L(39)");
        vm.assertEq(registry.sequencerCountAt(ROLLUP, 73), 8, "L(73): index 8 exists from 74");
        vm.assertEq(registry.sequencerCountAt(ROLLUP, 74), 9, "L(74)");
        vm.assertEq(registry.sequencerCountAt(ROLLUP, type(uint64).max), 9, "L(far future)");
        vm.assertEq(registry.sequencerCountAt(99, 74), 0, "unknown rollup");
    }

    function test_register_pushedIndexExistsFromItsActivation() public {
        vm.assertEq(registerAs(operatorAt(9), ROLLUP), 7, "the last freed index first");
        vm.assertEq(registerAs(operatorAt(9), ROLLUP), 0, "then the other freed index");
        uint256 index = registerAs(operatorAt(9), ROLLUP);
        vm.assertEq(index, 9, "then a push");
        vm.assertEq(activeFrom(ROLLUP, index), 74, "activeFrom = 71 + 3");
        vm.assertEq(existsFrom(ROLLUP, index), 74, "existsFrom = activeFrom");
        vm.assertEq(registry.sequencerCountAt(ROLLUP, 73), 8, "not part of window 73");
        vm.assertEq(registry.sequencerCountAt(ROLLUP, 74), 10, "part of window 74");
    }

    function test_register_reusedIndexKeepsItsExistsFrom() public {
        warpToWindow(80);
        vm.assertEq(registerAs(operatorAt(9), ROLLUP), 7, "freed index 7 reused");
        vm.assertEq(registerAs(operatorAt(9), ROLLUP), 0, "freed index 0 reused");
        vm.assertEq(activeFrom(ROLLUP, 7), 83, "activeFrom = 80 + 3");
        vm.assertEq(existsFrom(ROLLUP, 7), 39, "existsFrom kept from the push in window 36");
        vm.assertEq(activeFrom(ROLLUP, 0), 83, "activeFrom = 80 + 3");
        vm.assertEq(existsFrom(ROLLUP, 0), 3, "existsFrom kept from the push in window 0");
        (,, uint256 count) = registry.rollup(ROLLUP);
        vm.assertEq(count, 9, "array did not grow");
        for (uint64 window = 3; window < 90; ++window) {
            uint256 expected = window < 39 ? 6 : window < 74 ? 8 : 9;
            vm.assertEq(registry.sequencerCountAt(ROLLUP, window), expected, "L(W) unchanged by the reuse");
        }
        vm.assertFalse(registry.isActive(ROLLUP, 7, 82), "the new record is not active before 83");
        vm.assertTrue(registry.isActive(ROLLUP, 7, 83), "active from 83");
    }

    /// @dev In window 71: two reuses, six pushes and an exit leave every slot of windows 71..73
    ///      alone, while the same draws reduced over the whole array (the turn-1 rule) would move.
    function test_changesInWindowCLeaveWindowsUpToCPlus2Alone() public {
        bytes32 seed = keccak256("seed");
        (address[] memory ops, uint256[] memory indices) = schedule(71, 3, seed);
        for (uint256 i; i < 8; ++i) {
            registerAs(operatorAt(9), ROLLUP);
        }
        exit(4);
        assertSchedule(71, 3, seed, ops, indices);
        bool turn1Moved;
        for (uint64 slot = 72 * WINDOW_SLOTS; slot < 74 * WINDOW_SLOTS; ++slot) {
            if (turn1Select(slot, seed) != indices[slot - 71 * WINDOW_SLOTS]) turn1Moved = true;
        }
        vm.assertTrue(turn1Moved, "reducing over the whole array would have moved the schedule");
    }

    // -------------------------------------------------------------------------------- fuzzing

    /// @dev The chain is in window C (71..74). The selection of every slot of windows C+1 and C+2 is
    ///      recorded; random registrations (pushes and reuses of freed indices, with or without a
    ///      separate signer), exits, withdrawals, endpoint and admin changes follow, all within
    ///      window C, after which every answer must be unchanged. Then the clock enters window C+1,
    ///      more actions follow, and the answers of C+1 and C+2 must still hold.
    function testFuzz_noTransactionAfterTheAnchorChangesTheSchedule(
        bytes32 seed,
        uint8 startWindow,
        uint16 startOffset,
        uint16 nextOffset,
        uint8 actions
    ) public {
        uint64 current = 71 + uint64(bound(startWindow, 0, 3));
        vm.warp(windowStart(current) + bound(startOffset, 0, WINDOW_SECONDS - 1));
        (address[] memory ops, uint256[] memory indices) = schedule(current + 1, 2, seed);

        uint256 n = bound(actions, 4, 16);
        for (uint256 k; k < n; ++k) {
            act(uint256(keccak256(abi.encode(seed, k))));
        }
        // Every run withdraws and reuses at least once (setUp left two bonds to withdraw and two
        // free indices; without a reuse so far, they are still free).
        if (!withdrew) withdrawAny(uint256(seed));
        if (!reused) registerOne(uint256(seed), true);
        vm.assertEq(registry.currentWindow(), current, "still in window C");
        assertSchedule(current + 1, 2, seed, ops, indices);

        vm.warp(windowStart(current + 1) + bound(nextOffset, 0, WINDOW_SECONDS - 1));
        for (uint256 k = n; k < 2 * n; ++k) {
            act(uint256(keccak256(abi.encode(seed, k))));
        }
        vm.assertEq(registry.currentWindow(), current + 1, "in window C+1");
        assertSchedule(current + 1, 2, seed, ops, indices);
    }

    // -------------------------------------------------------------------------------- helpers

    /// @dev One random action, kept within the current window.
    function act(uint256 r) internal {
        uint256 kind = r % 6;
        r >>= 8;
        if (kind == 0) {
            registerOne(r, r % 2 == 0);
        } else if (kind == 1) {
            (bool found, uint256 index) = find(r, 1);
            if (found) exit(index);
        } else if (kind == 2) {
            withdrawAny(r);
        } else if (kind == 3) {
            (bool found, uint256 index) = find(r, 0);
            if (found) {
                vm.prank(registry.getSequencer(ROLLUP, index).operator);
                registry.updateEndpoint(ROLLUP, index, "http://10.0.0.2:8545");
            }
        } else if (kind == 4) {
            (address current,,) = registry.rollup(ROLLUP);
            address next = address(uint160(0xAD00 + r % 3));
            vm.prank(current);
            registry.transferAdmin(ROLLUP, next);
            vm.prank(next);
            registry.acceptAdmin(ROLLUP);
            vm.prank(next);
            registry.setMinBond(ROLLUP, MIN_BOND);
        } else {
            uint256 end = windowStart(registry.currentWindow() + 1);
            vm.warp(block.timestamp + (r % (end - block.timestamp)));
        }
    }

    /// @dev A registration by a random operator, with its own key or another key's consent;
    ///      checks that it reuses a freed index exactly when one is free.
    function registerOne(uint256 r, bool separateSigner) internal {
        address operator = operatorAt(r % OPERATORS);
        (,, uint256 lengthBefore) = registry.rollup(ROLLUP);
        uint256 index;
        if (separateSigner) {
            index = registerAs(operator, ROLLUP);
        } else {
            vm.prank(operator);
            index = registry.register{value: MIN_BOND}(ROLLUP, operator, URL, "");
        }
        if (freeCount != 0) {
            vm.assertTrue(index < lengthBefore, "a freed index is reused");
            --freeCount;
            reused = true;
        } else {
            vm.assertEq(index, lengthBefore, "pushed");
        }
    }

    /// @dev Withdraws the first withdrawable bond from a random index on, if any.
    function withdrawAny(uint256 r) internal {
        (bool found, uint256 index) = find(r, 2);
        if (!found) return;
        vm.prank(registry.getSequencer(ROLLUP, index).operator);
        registry.withdraw(ROLLUP, index);
        ++freeCount;
        withdrew = true;
    }

    /// @dev The first record from a random index on that is live (kind 0), can exit (1) or can
    ///      be withdrawn (2).
    function find(uint256 r, uint256 kind) internal view returns (bool, uint256) {
        (,, uint256 count) = registry.rollup(ROLLUP);
        uint64 current = registry.currentWindow();
        for (uint256 k; k < count; ++k) {
            uint256 index = (r % count + k) % count;
            SequencerRegistry.Sequencer memory record = registry.getSequencer(ROLLUP, index);
            if (record.withdrawn) continue;
            if (kind == 0) return (true, index);
            if (kind == 1 && record.activeUntil == 0) return (true, index);
            if (kind == 2 && record.activeUntil != 0 && current >= record.activeUntil + WITHDRAWAL_DELAY) {
                return (true, index);
            }
        }
        return (false, 0);
    }

    function windowSeed(bytes32 seed, uint64 window) internal pure returns (bytes32) {
        return keccak256(abi.encode(seed, window));
    }

    /// @dev The selection of every slot of `count` windows from `first`.
    function schedule(uint64 first, uint64 count, bytes32 seed)
        internal
        view
        returns (address[] memory ops, uint256[] memory indices)
    {
        ops = new address[](count * WINDOW_SLOTS);
        indices = new uint256[](count * WINDOW_SLOTS);
        for (uint64 i; i < count * WINDOW_SLOTS; ++i) {
            uint64 slot = first * WINDOW_SLOTS + i;
            (ops[i], indices[i]) = registry.sequencerForSeed(ROLLUP, slot, windowSeed(seed, slot / WINDOW_SLOTS));
        }
    }

    function assertSchedule(uint64 first, uint64 count, bytes32 seed, address[] memory ops, uint256[] memory indices)
        internal
        view
    {
        (address[] memory nowOps, uint256[] memory nowIndices) = schedule(first, count, seed);
        for (uint256 i; i < nowOps.length; ++i) {
            vm.assertEq(nowIndices[i], indices[i], "index of a fixed slot changed");
            vm.assertEq(nowOps[i], ops[i], "operator of a fixed slot changed");
        }
    }

    /// @dev The turn-1 selection, drawing modulo the whole array length.
    function turn1Select(uint64 slot, bytes32 seed) internal view returns (uint256) {
        (,, uint256 length) = registry.rollup(ROLLUP);
        uint64 window = slot / WINDOW_SLOTS;
        bytes32 wseed = windowSeed(seed, window);
        uint256 i;
        for (uint256 k; k < 16; ++k) {
            i = uint256(keccak256(abi.encode(wseed, ROLLUP, uint256(slot), k))) % length;
            if (registry.isActive(ROLLUP, i, window)) return i;
        }
        for (uint256 step = 1; step < length; ++step) {
            if (registry.isActive(ROLLUP, (i + step) % length, window)) return (i + step) % length;
        }
        return type(uint256).max;
    }
}

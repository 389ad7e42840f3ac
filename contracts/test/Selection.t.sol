// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {SequencerRegistry} from "../src/SequencerRegistry.sol";
import {RegistryFixture} from "./utils/RegistryFixture.sol";

/// @notice `sequencerForSeed`, `windowSeed` and `naiveLookahead` against a reference written
///         straight from SPEC §3 and §5 with plain Solidity (no assembly, no shared helpers).
contract SelectionTest is RegistryFixture {
    uint256 internal constant NONE = type(uint256).max;

    /// @dev SPEC §5: `L(W)`, the number of indices with `existsFrom <= W`, counted one by one;
    ///      fails unless they form a prefix of the array.
    function referenceLength(uint256 chainId, uint64 window) internal view returns (uint256 length) {
        (,, uint256 count) = registry.rollup(chainId);
        for (uint256 i; i < count; ++i) {
            if (registry.getSequencer(chainId, i).existsFrom <= window) {
                vm.assertEq(length, i, "the indices that exist in a window are a prefix");
                ++length;
            }
        }
    }

    function referenceSelect(uint256 chainId, uint64 slot, bytes32 seed)
        internal
        view
        returns (address operator, uint256 index)
    {
        uint64 window = slot / WINDOW_SLOTS;
        uint256 length = referenceLength(chainId, window);
        if (length == 0) return (address(0), NONE);
        uint256 i;
        for (uint256 k; k < 16; ++k) {
            i = uint256(keccak256(abi.encode(seed, chainId, uint256(slot), uint256(k)))) % length;
            if (registry.isActive(chainId, i, window)) return (registry.getSequencer(chainId, i).operator, i);
        }
        for (uint256 step = 1; step <= length; ++step) {
            uint256 j = (i + step) % length;
            if (registry.isActive(chainId, j, window)) return (registry.getSequencer(chainId, j).operator, j);
        }
        return (address(0), NONE);
    }

    function assertSelection(uint256 chainId, uint64 slot, bytes32 seed) internal view {
        vm.assertEq(
            registry.sequencerCountAt(chainId, slot / WINDOW_SLOTS),
            referenceLength(chainId, slot / WINDOW_SLOTS),
            "sequencerCountAt = L(W)"
        );
        (address operator, uint256 index) = registry.sequencerForSeed(chainId, slot, seed);
        (address expectedOperator, uint256 expectedIndex) = referenceSelect(chainId, slot, seed);
        vm.assertEq(index, expectedIndex, "index");
        vm.assertEq(operator, expectedOperator, "operator");
        if (index != NONE) {
            vm.assertTrue(registry.isActive(chainId, index, slot / WINDOW_SLOTS), "selected record is active");
        }
    }

    /// @dev Registers `count` operators; those with bit i of `exitMask` set exit at once.
    function populate(uint256 count, uint256 exitMask) internal {
        for (uint256 i; i < count; ++i) {
            registerNth(i, exitMask);
        }
    }

    /// @dev Registers `count` operators over time: before registration i the clock moves on by
    ///      0 to 3 windows (two bits of `schedule`); those with bit i of `exitMask` set exit at once.
    ///      Returns the window of the last registration.
    function populateOverTime(uint256 count, uint256 exitMask, uint256 schedule) internal returns (uint64 window) {
        for (uint256 i; i < count; ++i) {
            window += uint64((schedule >> (2 * i)) & 3);
            warpToWindow(window);
            registerNth(i, exitMask);
        }
    }

    /// @dev Registers operator `i` (at index `i`); it exits at once if bit i of `exitMask` is set.
    function registerNth(uint256 i, uint256 exitMask) internal {
        // forge-lint: disable-next-line(unsafe-typecast)
        address operator = address(uint160(0x1000 + i));
        vm.deal(operator, MIN_BOND);
        registerAs(operator, ROLLUP);
        if ((exitMask >> i) & 1 == 1) {
            vm.prank(operator);
            registry.requestExit(ROLLUP, i);
        }
    }

    function test_windowSeed_isKeccakOfAbiEncoding() public view {
        bytes32 randao = keccak256("randao");
        vm.assertEq(registry.windowSeed(randao, 77), keccak256(abi.encode(randao, uint256(77))), "seed");
    }

    function test_sequencerForSeed_emptyRollupHasNoSequencer() public view {
        (address operator, uint256 index) = registry.sequencerForSeed(ROLLUP, 1000, keccak256("seed"));
        vm.assertEq(operator, address(0), "no operator");
        vm.assertEq(index, NONE, "no index");
    }

    function test_sequencerForSeed_unknownRollupHasNoSequencer() public view {
        (address operator, uint256 index) = registry.sequencerForSeed(12345, 1000, keccak256("seed"));
        vm.assertEq(operator, address(0), "no operator");
        vm.assertEq(index, NONE, "no index");
    }

    function test_sequencerForSeed_nobodyBeforeActivation() public {
        populate(5, 0);
        for (uint64 slot; slot < 3 * WINDOW_SLOTS; ++slot) {
            (, uint256 index) = registry.sequencerForSeed(ROLLUP, slot, keccak256(abi.encode(slot)));
            vm.assertEq(index, NONE, "windows 0..2 precede activeFrom = 3");
        }
        (, uint256 first) = registry.sequencerForSeed(ROLLUP, 3 * WINDOW_SLOTS, keccak256("s"));
        vm.assertTrue(first < 5, "window 3 has a sequencer");
    }

    function test_sequencerForSeed_fallbackScanFindsTheOnlyActiveRecord() public {
        // 200 records, all but index 137 exit before they are active: draws almost always miss.
        uint256 exitMask = type(uint256).max ^ (uint256(1) << 137);
        populate(200, exitMask);
        for (uint64 slot = 96; slot < 96 + 64; ++slot) {
            (address operator, uint256 index) = registry.sequencerForSeed(ROLLUP, slot, keccak256(abi.encode(slot)));
            vm.assertEq(index, 137, "the only active record");
            vm.assertEq(operator, address(uint160(0x1000 + 137)), "its operator");
        }
    }

    function test_sequencerForSeed_noneWhenAllExited() public {
        populate(20, type(uint256).max);
        assertSelection(ROLLUP, 200, keccak256("x"));
        (, uint256 index) = registry.sequencerForSeed(ROLLUP, 200, keccak256("x"));
        vm.assertEq(index, NONE, "nobody active");
    }

    function testFuzz_sequencerForSeed_matchesReference(uint8 count, uint256 exitMask, uint64 slot, bytes32 seed)
        public
    {
        populate(bound(count, 0, 40), exitMask);
        assertSelection(ROLLUP, slot, seed);
    }

    /// @dev Registrations spread over windows, so that the selection of a window reduces over a
    ///      prefix of the array (the binary-search path of `L(W)`), queried up to four windows
    ///      after the last registration (L(W) still growing).
    function testFuzz_sequencerForSeed_matchesReferenceAcrossWindows(
        uint8 count,
        uint256 exitMask,
        uint256 schedule,
        uint64 window,
        uint8 slotInWindow,
        bytes32 seed
    ) public {
        uint64 last = populateOverTime(bound(count, 1, 40), exitMask, schedule);
        window = uint64(bound(window, 0, last + 4));
        assertSelection(ROLLUP, window * WINDOW_SLOTS + slotInWindow % WINDOW_SLOTS, seed);
    }

    function testFuzz_sequencerForSeed_sparseSetsUseTheScan(uint64 slot, bytes32 seed, uint8 active) public {
        populate(64, type(uint256).max ^ (uint256(1) << (active % 64)));
        assertSelection(ROLLUP, slot, seed);
    }

    function test_naiveLookahead_drawsNextSlotsFromCurrentPrevrandao() public {
        populate(6, 0x5);
        warpToWindow(9);
        vm.warp(block.timestamp + 5 * SLOT_SECONDS + 3);
        vm.prevrandao(keccak256("randao"));
        address[] memory operators = registry.naiveLookahead(ROLLUP, 40);
        uint64 current = registry.currentSlot();
        bytes32 seed = keccak256(abi.encode(keccak256("randao"), uint256(current)));
        vm.assertEq(operators.length, 40, "n entries");
        for (uint256 i; i < 40; ++i) {
            (address expected,) = referenceSelect(ROLLUP, current + uint64(i) + 1, seed);
            vm.assertEq(operators[i], expected, "naive entry");
        }
    }

    function test_naiveLookahead_revertsAboveCap() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.TooManySlots.selector, 1025, 1024));
        registry.naiveLookahead(ROLLUP, 1025);
    }
}

/// @notice Gas of a selection whose storage is cold: the records are written in `setUp`, which
///         forge runs as its own transaction, so the test's call starts with no warm slots. Eight
///         records are pushed in window 0 (existing from window 3) and eight more in window 10
///         (existing from window 13).
contract SelectionGasTest is RegistryFixture {
    function setUp() public override {
        super.setUp();
        for (uint160 i = 1; i <= 16; ++i) {
            if (i == 9) warpToWindow(10);
            vm.deal(address(i), MIN_BOND);
            registerAs(address(i), ROLLUP);
        }
    }

    /// @dev The common case: the newest index exists in the slot's window, so `L(W)` is the array
    ///      length after one read of the newest record.
    function test_sequencerForSeed_gasCold() public {
        registry.sequencerForSeed(ROLLUP, 14 * WINDOW_SLOTS + 8, keccak256("cold"));
        uint256 gasUsed = vm.snapshotGasLastCall("sequencerForSeed (cold, newest index exists)");
        vm.assertLe(gasUsed, 10_000, "sequencerForSeed (cold) <= 10k gas");
    }

    /// @dev Window 11: the eight newest indices exist only from window 13, so `L(11)` = 8 comes
    ///      from a binary search over the sixteen records.
    function test_sequencerForSeed_gasCold_newestNotYetExisting() public {
        (, uint256 index) = registry.sequencerForSeed(ROLLUP, 11 * WINDOW_SLOTS + 8, keccak256("cold"));
        uint256 gasUsed = vm.snapshotGasLastCall("sequencerForSeed (cold, newest index not yet, binary search)");
        vm.assertTrue(index < 8, "only the first eight exist in window 11");
        vm.assertLe(gasUsed, 20_000, "sequencerForSeed (cold, binary search over 16) <= 20k gas");
    }

    function test_fixture_lengthsAsOfWindows() public view {
        vm.assertEq(registry.sequencerCountAt(ROLLUP, 11), 8, "L(11)");
        vm.assertEq(registry.sequencerCountAt(ROLLUP, 12), 8, "L(12)");
        vm.assertEq(registry.sequencerCountAt(ROLLUP, 13), 16, "L(13)");
    }
}

// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {SequencerRegistry} from "../src/SequencerRegistry.sol";
import {RegistryFixture} from "./utils/RegistryFixture.sol";

/// @notice `sequencerForSeed`, `windowSeed` and `naiveLookahead` against a reference written
///         straight from SPEC §3 and §5 with plain Solidity (no assembly, no shared helpers).
contract SelectionTest is RegistryFixture {
    uint256 internal constant NONE = type(uint256).max;

    function referenceSelect(uint256 chainId, uint64 slot, bytes32 seed)
        internal
        view
        returns (address operator, uint256 index)
    {
        (,, uint256 length) = registry.rollup(chainId);
        if (length == 0) return (address(0), NONE);
        uint64 window = slot / WINDOW_SLOTS;
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
            address operator = address(uint160(0x1000 + i));
            vm.deal(operator, MIN_BOND);
            registerAs(operator, ROLLUP);
            if ((exitMask >> i) & 1 == 1) {
                vm.prank(operator);
                registry.requestExit(ROLLUP, i);
            }
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
///         forge runs as its own transaction, so the test's call starts with no warm slots.
contract SelectionGasTest is RegistryFixture {
    function setUp() public override {
        super.setUp();
        for (uint160 i = 1; i <= 8; ++i) {
            vm.deal(address(i), MIN_BOND);
            registerAs(address(i), ROLLUP);
        }
    }

    function test_sequencerForSeed_gasCold() public {
        registry.sequencerForSeed(ROLLUP, 200, keccak256("cold"));
        uint256 gasUsed = vm.snapshotGasLastCall("sequencerForSeed (cold)");
        vm.assertLe(gasUsed, 10_000, "sequencerForSeed (cold) <= 10k gas");
    }
}

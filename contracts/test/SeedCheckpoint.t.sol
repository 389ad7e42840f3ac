// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {BlockHeader} from "../src/BlockHeader.sol";
import {SequencerRegistry} from "../src/SequencerRegistry.sol";
import {AccountabilityFixture, Headers} from "./utils/AccountabilityFixture.sol";

/// @notice SPEC §8, seed checkpoints: `checkpointSeed` proves anchor(W) as `sequencerFor` does and
///         stores seed(W) once; `sequencerAt` and `isSelected` select with the stored seed. Alice
///         and Bob register in window 0 (active from window 3); the clock is in window 5.
contract SeedCheckpointTest is AccountabilityFixture {
    uint256 internal constant EMPTY_ROLLUP = 11;

    function setUp() public override {
        super.setUp();
        registerAs(alice, ROLLUP);
        registerAs(bob, ROLLUP);
        registry.registerRollup(EMPTY_ROLLUP, admin, MIN_BOND);
        warpToWindow(5);
    }

    /// @dev The start of window `window - 1`: anchor(window) is the last block before it.
    function boundaryOf(uint64 window) internal pure returns (uint256) {
        return GENESIS + uint256(window - 1) * WINDOW_SLOTS * SLOT_SECONDS;
    }

    // ------------------------------------------------------------------------- checkpointSeed

    function test_checkpointSeed_storesTheSeedOfTheProvenAnchor() public {
        (bytes memory anchor, bytes memory next) = mineAnchor(6, randaoOf(6));
        vm.assertEq(registry.seedOf(6), bytes32(0), "no seed before the checkpoint");
        vm.expectEmit(address(registry));
        emit SequencerRegistry.SeedCheckpointed(6, seedFor(6), FIRST_BLOCK, keccak256(anchor));
        bytes32 seed = registry.checkpointSeed(6, anchor, next);
        vm.assertEq(seed, seedFor(6), "returns keccak256(abi.encode(prevrandao, window))");
        vm.assertEq(registry.seedOf(6), seedFor(6), "stored");
        vm.assertEq(registry.seedOf(5), bytes32(0), "only window 6");
        vm.assertEq(registry.seedOf(7), bytes32(0), "only window 6");
    }

    function test_checkpointSeed_secondCallIsANoOp() public {
        checkpoint(6);
        (bytes memory anchor, bytes memory next) = mineAnchor(6, keccak256("another randao"));
        vm.recordLogs();
        vm.assertEq(registry.checkpointSeed(6, anchor, next), seedFor(6), "the stored seed, not the new anchor's");
        vm.assertEq(registry.checkpointSeed(6, hex"c0", ""), seedFor(6), "headers are not even read");
        vm.assertEq(vm.getRecordedLogs().length, 0, "no event");
        vm.assertEq(registry.seedOf(6), seedFor(6), "unchanged");
    }

    function test_checkpointSeed_acceptsTheCurrentBlockAsNext() public {
        uint256 number = block.number;
        bytes memory anchor = Headers.encode(bytes32(0), number, boundaryOf(6) - 1, randaoOf(6));
        vm.roll(number + 1);
        vm.setBlockhash(number, keccak256(anchor));
        registry.checkpointSeed(6, anchor, "");
        vm.assertEq(registry.seedOf(6), seedFor(6), "anchor proven by the current block's parent hash");
    }

    function test_checkpointSeed_provesAnyWindowStillInHistory() public {
        warpToWindow(40);
        for (uint64 window = 2; window <= 41; ++window) {
            checkpoint(window);
            vm.assertEq(registry.seedOf(window), seedFor(window), "past, current and next windows");
        }
    }

    function test_checkpointSeed_revertsForWindowsWithoutAnchor() public {
        (bytes memory anchor, bytes memory next) = mineAnchor(2, randaoOf(2));
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NoAnchorWindow.selector, 0));
        registry.checkpointSeed(0, anchor, next);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NoAnchorWindow.selector, 1));
        registry.checkpointSeed(1, anchor, next);
    }

    function test_checkpointSeed_revertsForABlockInsideTheWindow() public {
        uint256 boundary = boundaryOf(6);
        bytes memory anchor = Headers.encode(bytes32(0), block.number, boundary, randaoOf(6));
        bytes memory next = Headers.encode(keccak256(anchor), block.number + 1, boundary + 12, bytes32(0));
        vm.roll(block.number + 2);
        vm.setBlockhash(block.number - 1, keccak256(next));
        vm.expectRevert(
            abi.encodeWithSelector(SequencerRegistry.NotAnchor.selector, 6, boundary, boundary + 12, boundary)
        );
        registry.checkpointSeed(6, anchor, next);
    }

    function test_checkpointSeed_revertsForABlockBeforeTheAnchor() public {
        uint256 boundary = boundaryOf(6);
        bytes memory anchor = Headers.encode(bytes32(0), block.number, boundary - 24, randaoOf(6));
        bytes memory next = Headers.encode(keccak256(anchor), block.number + 1, boundary - 12, bytes32(0));
        vm.roll(block.number + 2);
        vm.setBlockhash(block.number - 1, keccak256(next));
        vm.expectRevert(
            abi.encodeWithSelector(SequencerRegistry.NotAnchor.selector, 6, boundary - 24, boundary - 12, boundary)
        );
        registry.checkpointSeed(6, anchor, next);
    }

    function test_checkpointSeed_revertsWhenNextIsNotTheChild() public {
        (bytes memory anchor,) = mineAnchor(6, randaoOf(6));
        (bytes memory otherAnchor, bytes memory stranger) = mineAnchor(6, randaoOf(7));
        vm.expectRevert(
            abi.encodeWithSelector(SequencerRegistry.NotParentOf.selector, keccak256(anchor), keccak256(otherAnchor))
        );
        registry.checkpointSeed(6, anchor, stranger);
    }

    function test_checkpointSeed_revertsForATamperedHeader() public {
        (bytes memory anchor, bytes memory next) = mineAnchor(6, randaoOf(6));
        bytes32 canonical = keccak256(next);
        next[next.length - 1] ^= 0x01;
        vm.expectRevert(
            abi.encodeWithSelector(
                SequencerRegistry.HeaderNotCanonical.selector, block.number - 1, keccak256(next), canonical
            )
        );
        registry.checkpointSeed(6, anchor, next);
    }

    function test_checkpointSeed_revertsWhenTheAnchorIsNotTheCurrentParent() public {
        (bytes memory anchor,) = mineAnchor(6, randaoOf(6));
        bytes32 parent = blockhash(block.number - 1);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NotParentOf.selector, keccak256(anchor), parent));
        registry.checkpointSeed(6, anchor, "");
    }

    function test_checkpointSeed_revertsForAFutureBlock() public {
        (bytes memory anchor, bytes memory next) = mineAnchor(6, randaoOf(6));
        vm.roll(block.number - 1);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.BlockHashUnavailable.selector, block.number));
        registry.checkpointSeed(6, anchor, next);
    }

    function test_checkpointSeed_revertsBeyondHistory() public {
        (bytes memory anchor, bytes memory next) = mineAnchor(6, randaoOf(6));
        vm.roll(block.number + 8191);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.BlockHashUnavailable.selector, block.number - 8192));
        registry.checkpointSeed(6, anchor, next);
    }

    function test_checkpointSeed_revertsOnMalformedRlp() public {
        (, bytes memory next) = mineAnchor(6, randaoOf(6));
        vm.expectRevert(BlockHeader.InvalidHeaderRlp.selector);
        registry.checkpointSeed(6, hex"c0", next);
    }

    // ---------------------------------------------------------------------------- sequencerAt

    function test_sequencerAt_isTheSelectionWithTheStoredSeed() public {
        (bytes memory anchor, bytes memory next) = mineAnchor(6, randaoOf(6));
        registry.checkpointSeed(6, anchor, next);
        bool[2] memory seen;
        for (uint64 slot = windowStart(6); slot < windowStart(7); ++slot) {
            (address operator, uint256 index) = registry.sequencerAt(ROLLUP, slot);
            (address expected, uint256 expectedIndex) = registry.sequencerForSeed(ROLLUP, slot, seedFor(6));
            (address proven, uint256 provenIndex) = registry.sequencerFor(ROLLUP, slot, anchor, next);
            vm.assertEq(operator, expected, "operator of sequencerForSeed");
            vm.assertEq(index, expectedIndex, "index of sequencerForSeed");
            vm.assertEq(operator, proven, "operator of sequencerFor");
            vm.assertEq(index, provenIndex, "index of sequencerFor");
            seen[index] = true;
        }
        vm.assertTrue(seen[0] && seen[1], "both records selected in some slot");
    }

    function test_sequencerAt_answersLongAfterTheWindow() public {
        checkpoint(6);
        (address early, uint256 earlyIndex) = registry.sequencerAt(ROLLUP, windowStart(6) + 7);
        warpToWindow(500);
        (address late, uint256 lateIndex) = registry.sequencerAt(ROLLUP, windowStart(6) + 7);
        vm.assertEq(late, early, "same operator, no horizon");
        vm.assertEq(lateIndex, earlyIndex, "same index");
    }

    function test_sequencerAt_revertsWithoutSeed() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.SeedUnknown.selector, 6));
        registry.sequencerAt(ROLLUP, windowStart(6));
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.SeedUnknown.selector, 0));
        registry.sequencerAt(ROLLUP, 0);
        checkpoint(6);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.SeedUnknown.selector, 7));
        registry.sequencerAt(ROLLUP, windowStart(7));
    }

    function test_sequencerAt_noSequencerWhenNoneIsActive() public {
        checkpoint(6);
        (address operator, uint256 index) = registry.sequencerAt(EMPTY_ROLLUP, windowStart(6));
        vm.assertEq(operator, address(0), "empty rollup: no operator");
        vm.assertEq(index, NONE, "empty rollup: no index");
        (operator, index) = registry.sequencerAt(12345, windowStart(6));
        vm.assertEq(index, NONE, "unknown rollup: no index");
        checkpoint(2);
        (, index) = registry.sequencerAt(ROLLUP, windowStart(2));
        vm.assertEq(index, NONE, "window 2 precedes activeFrom = 3");
    }

    // ----------------------------------------------------------------------------- isSelected

    function test_isSelected_onlyTheOperatorAndSignerOfTheSelectedRecord() public {
        checkpoint(6);
        for (uint64 slot = windowStart(6); slot < windowStart(7); ++slot) {
            address chosen = selected(slot);
            address other = chosen == alice ? bob : alice;
            vm.assertTrue(registry.isSelected(ROLLUP, slot, chosen), "the operator");
            vm.assertTrue(registry.isSelected(ROLLUP, slot, signerOf(chosen)), "the signer");
            vm.assertFalse(registry.isSelected(ROLLUP, slot, other), "another record's operator");
            vm.assertFalse(registry.isSelected(ROLLUP, slot, signerOf(other)), "another record's signer");
            vm.assertFalse(registry.isSelected(ROLLUP, slot, carol), "a stranger");
            vm.assertFalse(registry.isSelected(EMPTY_ROLLUP, slot, chosen), "the operator on another rollup");
        }
    }

    function test_isSelected_nobodyWhenNoneIsSelected() public {
        checkpoint(2);
        vm.assertFalse(registry.isSelected(ROLLUP, windowStart(2), alice), "not active yet");
        vm.assertFalse(registry.isSelected(ROLLUP, windowStart(2), address(0)), "not even address(0)");
    }

    /// @dev `isSelected` carries its own copy of the selection (every inbox post asks), so it is
    ///      held to `sequencerAt` over random sets: up to 40 records pushed in window 0, any of
    ///      them exited before it was ever active (half the runs all but one: the fallback scan),
    ///      and up to 4 pushed in
    ///      window 3 that exist only from window 6 (`L(5)` by binary search).
    /// forge-config: default.fuzz.runs = 200
    function testFuzz_isSelected_agreesWithSequencerAt(uint256 count, uint256 exitMask, uint256 later, bytes32 randao)
        public
    {
        warpToWindow(0);
        count = bound(count, 0, 40);
        // Half the runs keep one record of the 40 at most: the draws mostly miss.
        bool sparse = (later >> 8) & 1 == 1;
        uint256 keep = count == 0 ? 0 : (later >> 16) % count;
        for (uint256 i; i < count; ++i) {
            // forge-lint: disable-next-line(unsafe-typecast)
            address operator = address(uint160(0x2000 + i));
            vm.deal(operator, MIN_BOND);
            uint256 index = registerAs(operator, ROLLUP);
            if (sparse ? i != keep : (exitMask >> i) & 1 == 1) {
                vm.prank(operator);
                registry.requestExit(ROLLUP, index);
            }
        }
        if (sparse || (exitMask >> 100) & 1 == 1) {
            vm.prank(alice);
            registry.requestExit(ROLLUP, 0);
            vm.prank(bob);
            registry.requestExit(ROLLUP, 1);
        }
        warpToWindow(3);
        for (uint256 i; i < bound(later, 0, 4); ++i) {
            // forge-lint: disable-next-line(unsafe-typecast)
            address operator = address(uint160(0x3000 + i));
            vm.deal(operator, MIN_BOND);
            registerAs(operator, ROLLUP);
        }
        warpToWindow(5);
        (bytes memory anchor, bytes memory next) = mineAnchor(5, randao);
        registry.checkpointSeed(5, anchor, next);
        for (uint64 slot = windowStart(5); slot < windowStart(6); ++slot) {
            (address operator, uint256 index) = registry.sequencerAt(ROLLUP, slot);
            if (index == NONE) {
                vm.assertFalse(registry.isSelected(ROLLUP, slot, address(0)), "nobody when none is selected");
                continue;
            }
            address stranger = operator == bob ? alice : bob;
            vm.assertTrue(registry.isSelected(ROLLUP, slot, operator), "the operator");
            vm.assertTrue(registry.isSelected(ROLLUP, slot, signerOf(operator)), "the signer");
            vm.assertFalse(registry.isSelected(ROLLUP, slot, stranger), "another operator");
            vm.assertFalse(registry.isSelected(ROLLUP, slot, signerOf(stranger)), "another signer");
        }
    }

    function test_isSelected_revertsWithoutSeed() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.SeedUnknown.selector, 6));
        registry.isSelected(ROLLUP, windowStart(6), alice);
    }
}

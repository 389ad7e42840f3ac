// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {BlockHeader} from "../src/BlockHeader.sol";
import {SequencerRegistry} from "../src/SequencerRegistry.sol";
import {Test} from "./utils/Test.sol";

/// @dev Exposes the header library to external calls, so malformed calldata can be fuzzed.
contract BlockHeaderHarness {
    function decode(bytes calldata rlp) external pure returns (BlockHeader.Fields memory) {
        return BlockHeader.decode(rlp);
    }
}

/// @notice `sequencerFor` against real block headers mined by anvil (test/fixtures), with
///         12-second slots and 4-slot windows so that the fixture spans ten windows, some slots
///         empty. Block hashes are installed with `setBlockhash` (and in the EIP-2935 contract
///         for the deep-history path).
contract SequencerForTest is Test {
    struct Header {
        uint256 number;
        bytes32 hash;
        uint256 timestamp;
        bytes32 mixHash;
        bytes rlp;
    }

    uint64 internal constant SLOT_SECONDS = 12;
    uint64 internal constant WINDOW_SLOTS = 4;
    uint256 internal constant ROLLUP_A = 10;
    uint256 internal constant ROLLUP_B = 20;
    /// @dev EIP-2935 runtime code, as deployed at HISTORY_STORAGE by the Prague fork.
    bytes internal constant HISTORY_CODE =
        hex"3373fffffffffffffffffffffffffffffffffffffffe14604657602036036042575f35600143038111604257611fff81430311604257611fff9006545f5260205ff35b5f5ffd5b5f35611fff60014303065500";

    Header[] internal headers;
    uint64 internal genesis;
    SequencerRegistry internal registry;
    BlockHeaderHarness internal harness;

    function setUp() public {
        string memory json = vm.readFile("test/fixtures/anvil-headers.json");
        genesis = uint64(vm.parseJsonUint(json, ".genesisTime"));
        for (uint256 i;; ++i) {
            string memory key = string.concat(".headers[", vm.toString(i), "]");
            Header memory header;
            try this.parseHeader(json, key) returns (Header memory parsed) {
                header = parsed;
            } catch {
                break;
            }
            headers.push(header);
        }
        vm.roll(headers.length);
        for (uint256 i; i < headers.length; ++i) {
            vm.setBlockhash(headers[i].number, headers[i].hash);
        }
        harness = new BlockHeaderHarness();

        vm.warp(genesis);
        registry = new SequencerRegistry(genesis, SLOT_SECONDS, WINDOW_SLOTS);
        registry.registerRollup(ROLLUP_A, address(this), 0);
        registry.registerRollup(ROLLUP_B, address(this), 0);
        for (uint160 i = 1; i <= 6; ++i) {
            vm.prank(address(i));
            registry.register(ROLLUP_A, address(i), "http://127.0.0.1:1", "");
            if (i % 2 == 0) {
                vm.prank(address(i));
                registry.register(ROLLUP_B, address(i), "http://127.0.0.1:2", "");
            }
        }
        vm.prank(address(3));
        registry.requestExit(ROLLUP_A, 2); // index 2 is inactive from window 3 on: never active
    }

    function parseHeader(string memory json, string memory key) external pure returns (Header memory header) {
        header.number = vm.parseJsonUint(json, string.concat(key, ".number"));
        header.hash = vm.parseJsonBytes32(json, string.concat(key, ".hash"));
        header.timestamp = vm.parseJsonUint(json, string.concat(key, ".timestamp"));
        header.mixHash = vm.parseJsonBytes32(json, string.concat(key, ".mixHash"));
        header.rlp = vm.parseJsonBytes(json, string.concat(key, ".rlp"));
    }

    /// @dev Index in `headers` of anchor(window): the last block before window-1 starts.
    function anchorOf(uint64 window) internal view returns (uint256 i) {
        uint256 boundary = genesis + uint256(window - 1) * WINDOW_SLOTS * SLOT_SECONDS;
        while (i + 1 < headers.length && headers[i + 1].timestamp < boundary) ++i;
    }

    function warpToWindow(uint64 window) internal {
        vm.warp(genesis + uint256(window) * WINDOW_SLOTS * SLOT_SECONDS);
    }

    function test_fixture_headersDecodeToTheirFields() public view {
        for (uint256 i; i < headers.length; ++i) {
            BlockHeader.Fields memory fields = harness.decode(headers[i].rlp);
            vm.assertEq(keccak256(headers[i].rlp), headers[i].hash, "fixture hash");
            vm.assertEq(fields.number, headers[i].number, "number");
            vm.assertEq(fields.timestamp, headers[i].timestamp, "timestamp");
            vm.assertEq(fields.mixHash, headers[i].mixHash, "mixHash");
            if (i > 0) vm.assertEq(fields.parentHash, headers[i - 1].hash, "parentHash");
        }
    }

    function test_sequencerFor_matchesSeedSelectionInEveryWindow() public {
        // The fixture's last block is in window 9, so anchors are known up to window 10.
        for (uint64 current = 2; current <= 9; ++current) {
            warpToWindow(current);
            for (uint64 window = current; window <= current + 1; ++window) {
                Header storage anchor = headers[anchorOf(window)];
                Header storage next = headers[anchorOf(window) + 1];
                bytes32 seed = registry.windowSeed(anchor.mixHash, window);
                for (uint64 slot = window * WINDOW_SLOTS; slot < (window + 1) * WINDOW_SLOTS; ++slot) {
                    for (uint256 rollup = ROLLUP_A; rollup <= ROLLUP_B; rollup += ROLLUP_B - ROLLUP_A) {
                        (address operator, uint256 index) = registry.sequencerFor(rollup, slot, anchor.rlp, next.rlp);
                        (address expected, uint256 expectedIndex) = registry.sequencerForSeed(rollup, slot, seed);
                        vm.assertEq(operator, expected, "operator");
                        vm.assertEq(index, expectedIndex, "index");
                    }
                }
            }
        }
    }

    function test_sequencerFor_acceptsTheCurrentBlockAsNext() public {
        uint256 a = anchorOf(8);
        Header storage next = headers[a + 1];
        vm.roll(next.number);
        vm.warp(next.timestamp);
        (address operator,) = registry.sequencerFor(ROLLUP_A, 8 * WINDOW_SLOTS, headers[a].rlp, "");
        (address expected,) =
            registry.sequencerForSeed(ROLLUP_A, 8 * WINDOW_SLOTS, registry.windowSeed(headers[a].mixHash, 8));
        vm.assertEq(operator, expected, "anchor proven by the current block's parent hash");
    }

    function test_sequencerFor_readsDeepHistoryFromEip2935() public {
        address history = registry.HISTORY_STORAGE();
        vm.etch(history, HISTORY_CODE);
        uint256 a = anchorOf(9);
        Header storage next = headers[a + 1];
        vm.roll(next.number + 1000);
        vm.store(history, bytes32(next.number % 8191), next.hash);
        warpToWindow(9);
        (address operator,) = registry.sequencerFor(ROLLUP_A, 9 * WINDOW_SLOTS, headers[a].rlp, next.rlp);
        (address expected,) =
            registry.sequencerForSeed(ROLLUP_A, 9 * WINDOW_SLOTS, registry.windowSeed(headers[a].mixHash, 9));
        vm.assertEq(operator, expected, "hash from the history contract");
    }

    function test_sequencerFor_revertsBeyondHistory() public {
        uint256 a = anchorOf(9);
        Header storage next = headers[a + 1];
        vm.roll(next.number + 8192);
        warpToWindow(9);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.BlockHashUnavailable.selector, next.number));
        registry.sequencerFor(ROLLUP_A, 9 * WINDOW_SLOTS, headers[a].rlp, next.rlp);
    }

    function test_sequencerFor_gas() public {
        warpToWindow(9);
        uint256 a = anchorOf(10);
        registry.sequencerFor(ROLLUP_A, 10 * WINDOW_SLOTS + 1, headers[a].rlp, headers[a + 1].rlp);
        uint256 gasUsed = vm.snapshotGasLastCall("sequencerFor");
        vm.assertLe(gasUsed, 60_000, "sequencerFor <= 60k gas");
    }

    function test_sequencerFor_revertsForAnEarlierBlock() public {
        warpToWindow(6);
        uint256 a = anchorOf(7) - 1;
        Header storage anchor = headers[a];
        Header storage next = headers[a + 1];
        uint256 boundary = genesis + 6 * WINDOW_SLOTS * SLOT_SECONDS;
        vm.expectRevert(
            abi.encodeWithSelector(SequencerRegistry.NotAnchor.selector, 7, anchor.timestamp, next.timestamp, boundary)
        );
        registry.sequencerFor(ROLLUP_A, 7 * WINDOW_SLOTS, anchor.rlp, next.rlp);
    }

    function test_sequencerFor_revertsForALaterBlock() public {
        warpToWindow(6);
        uint256 a = anchorOf(7) + 1;
        Header storage anchor = headers[a];
        Header storage next = headers[a + 1];
        uint256 boundary = genesis + 6 * WINDOW_SLOTS * SLOT_SECONDS;
        vm.expectRevert(
            abi.encodeWithSelector(SequencerRegistry.NotAnchor.selector, 7, anchor.timestamp, next.timestamp, boundary)
        );
        registry.sequencerFor(ROLLUP_A, 7 * WINDOW_SLOTS, anchor.rlp, next.rlp);
    }

    function test_sequencerFor_revertsWhenNextIsNotTheChild() public {
        warpToWindow(6);
        uint256 a = anchorOf(7);
        vm.expectRevert(
            abi.encodeWithSelector(SequencerRegistry.NotParentOf.selector, headers[a].hash, headers[a + 1].hash)
        );
        registry.sequencerFor(ROLLUP_A, 7 * WINDOW_SLOTS, headers[a].rlp, headers[a + 2].rlp);
    }

    function test_sequencerFor_revertsForATamperedHeader() public {
        warpToWindow(6);
        uint256 a = anchorOf(7);
        bytes memory forged = headers[a + 1].rlp;
        forged[forged.length - 1] ^= 0x01;
        vm.expectRevert(
            abi.encodeWithSelector(
                SequencerRegistry.HeaderNotCanonical.selector,
                headers[a + 1].number,
                keccak256(forged),
                headers[a + 1].hash
            )
        );
        registry.sequencerFor(ROLLUP_A, 7 * WINDOW_SLOTS, headers[a].rlp, forged);
    }

    function test_sequencerFor_revertsForAFutureBlock() public {
        warpToWindow(6);
        uint256 a = anchorOf(7);
        vm.roll(headers[a + 1].number);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.BlockHashUnavailable.selector, headers[a + 1].number));
        registry.sequencerFor(ROLLUP_A, 7 * WINDOW_SLOTS, headers[a].rlp, headers[a + 1].rlp);
    }

    function test_sequencerFor_revertsOutsideCurrentAndNextWindow() public {
        warpToWindow(6);
        uint256 a = anchorOf(8);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.SlotOutOfRange.selector, 8 * WINDOW_SLOTS, 6));
        registry.sequencerFor(ROLLUP_A, 8 * WINDOW_SLOTS, headers[a].rlp, headers[a + 1].rlp);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.SlotOutOfRange.selector, 6 * WINDOW_SLOTS - 1, 6));
        registry.sequencerFor(ROLLUP_A, 6 * WINDOW_SLOTS - 1, headers[a].rlp, headers[a + 1].rlp);
    }

    function test_sequencerFor_revertsForWindowsWithoutAnchor() public {
        warpToWindow(0);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NoAnchorWindow.selector, 1));
        registry.sequencerFor(ROLLUP_A, WINDOW_SLOTS, headers[0].rlp, headers[1].rlp);
    }

    function test_sequencerFor_revertsOnMalformedRlp() public {
        warpToWindow(6);
        vm.expectRevert(BlockHeader.InvalidHeaderRlp.selector);
        registry.sequencerFor(ROLLUP_A, 7 * WINDOW_SLOTS, hex"c0", headers[1].rlp);
    }

    function testFuzz_decode_rejectsGarbageCleanly(bytes calldata garbage) public view {
        try harness.decode(garbage) {}
        catch (bytes memory reason) {
            vm.assertEq(bytes32(reason), bytes32(BlockHeader.InvalidHeaderRlp.selector), "only InvalidHeaderRlp");
        }
    }

    function testFuzz_decode_rejectsTruncatedHeaders(uint256 cut) public {
        bytes memory rlp = headers[5].rlp;
        cut = bound(cut, 0, rlp.length - 1);
        bytes memory truncated = new bytes(cut);
        for (uint256 i; i < cut; ++i) {
            truncated[i] = rlp[i];
        }
        vm.expectRevert(BlockHeader.InvalidHeaderRlp.selector);
        harness.decode(truncated);
    }
}

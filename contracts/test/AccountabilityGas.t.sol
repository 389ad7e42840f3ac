// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {SequencerRegistry} from "../src/SequencerRegistry.sol";
import {SlotInbox} from "../src/SlotInbox.sol";
import {AccountabilityFixture} from "./utils/AccountabilityFixture.sol";

/// @dev The reference inbox without the sequencer check: what `propose` costs anyway, so the
///      difference is the price of asking the registry who is selected.
contract UncheckedSlotInbox is SlotInbox {
    constructor(SequencerRegistry registry_, uint256 chainId_, uint64 graceSlots_)
        SlotInbox(registry_, chainId_, graceSlots_)
    {}

    function _checkProposer(uint64) internal view override {}
}

/// @notice Gas of the SPEC §8 calls, each measured as the only call of a fresh transaction would
///         pay it: `vm.cool` on the registry and the inbox right before the measured call undoes
///         what the test's own preparation warmed. Eight sequencers registered in window 0; the
///         seed of window 5 is stored; the clock is in window 5. The measuring contract is the
///         caller (challenger, reporter), as the transaction's sender is warm.
contract AccountabilityGasTest is AccountabilityFixture {
    uint256 internal constant PROPOSE_OVERHEAD = 10_000;
    uint256 internal constant SLASH_BASE = 120_000;
    uint256 internal constant SLASH_PER_HASH = 400;

    UncheckedSlotInbox internal bare;
    uint64 internal slot;
    address internal chosen;

    receive() external payable {}

    function setUp() public override {
        super.setUp();
        for (uint160 i = 1; i <= 8; ++i) {
            // forge-lint: disable-next-line(unsafe-typecast)
            address operator = address(uint160(0x1000) + i);
            vm.deal(operator, MIN_BOND);
            registerAs(operator, ROLLUP);
        }
        bare = new UncheckedSlotInbox(registry, ROLLUP, GRACE_SLOTS);
        warpToWindow(5);
        checkpoint(5);
        slot = windowStart(5) + 10;
        chosen = selected(slot);
    }

    function cool() internal {
        vm.cool(address(registry));
        vm.cool(address(inbox));
        vm.cool(address(bare));
    }

    // -------------------------------------------------------------------------- checkpointSeed

    function test_checkpointSeed_gas() public {
        (bytes memory anchor, bytes memory next) = mineAnchor(6, randaoOf(6));
        cool();
        registry.checkpointSeed(6, anchor, next);
        uint256 gasUsed = vm.snapshotGasLastCall("checkpointSeed (cold, mainnet-shaped headers)");
        vm.assertLe(gasUsed, 45_000, "checkpointSeed <= 45k gas");
        vm.assertEq(registry.seedOf(6), seedFor(6), "stored");
    }

    function test_checkpointSeed_gas_currentBlockAsNext() public {
        (bytes memory anchor,) = mineAnchor(6, randaoOf(6));
        vm.roll(block.number - 1);
        cool();
        registry.checkpointSeed(6, anchor, "");
        uint256 gasUsed = vm.snapshotGasLastCall("checkpointSeed (cold, current block as next)");
        vm.assertLe(gasUsed, 45_000, "checkpointSeed <= 45k gas");
    }

    function test_checkpointSeed_gas_stored() public {
        cool();
        registry.checkpointSeed(5, "", "");
        vm.snapshotGasLastCall("checkpointSeed (cold, seed stored already)");
    }

    // --------------------------------------------------------------------------------- propose

    /// @dev `propose` of four hashes by `poster` on the checked inbox and on the unchecked one, in
    ///      the same slot: the check may cost at most `PROPOSE_OVERHEAD`. Both inboxes call the
    ///      registry (`currentSlot`) before the check, so a fresh transaction pays the cold access
    ///      to the registry's account on either; `vm.cool` resets storage but not an account
    ///      touched earlier in the test, so the registry's account is touched first and is warm
    ///      for both measurements alike.
    function measurePropose(address poster, string memory label) internal {
        bytes32[] memory batch = hashes(4, "batch");
        warpToSlot(slot);
        registry.currentSlot();
        cool();
        vm.prank(poster);
        inbox.propose(slot, batch, "", "");
        uint256 checked = vm.snapshotGasLastCall(string.concat("propose (cold storage, seed stored, ", label, ")"));
        cool();
        vm.prank(poster);
        bare.propose(slot, batch, "", "");
        uint256 baseline =
            vm.snapshotGasLastCall(string.concat("propose without the check (cold storage, ", label, ")"));
        vm.assertLe(checked, baseline + PROPOSE_OVERHEAD, "the sequencer check costs <= 10k gas");
    }

    /// @dev The same call as the only one of a fresh transaction: the registry's account is cold.
    function test_propose_gas_freshTransaction() public {
        warpToSlot(slot);
        vm.prank(chosen);
        inbox.propose(slot, hashes(4, "batch"), "", "");
        vm.snapshotGasLastCall("propose (fresh transaction, seed stored, operator)");
    }

    function test_propose_gas_operator() public {
        measurePropose(chosen, "operator");
    }

    function test_propose_gas_signer() public {
        measurePropose(signerOf(chosen), "signer");
    }

    // ---------------------------------------------------------------------------- slashPromise

    /// @dev A posted batch of `length` hashes that lacks one of four promised hashes; the first
    ///      slash of the registry (`burned` goes from zero), its worst case.
    function measureBrokenBatch(uint256 length) internal returns (uint256 gasUsed) {
        bytes32[] memory batch = hashes(length, "batch");
        bytes32[] memory promised = new bytes32[](4);
        for (uint256 i; i < 3; ++i) {
            promised[i] = batch[(i * 7 + 1) % length];
        }
        promised[3] = keccak256("not in the batch");
        SequencerRegistry.Preconfirmation memory p = promiseFor(slot, promised, keccak256("bundle"));
        bytes memory signature = signPromise(chosen, p);
        warpToSlot(slot);
        propose(chosen, slot, batch);
        warpPastGrace(slot);
        cool();
        registry.slashPromise(p, signature, batch);
        gasUsed = vm.snapshotGasLastCall(
            string.concat("slashPromise (cold, posted batch of ", vm.toString(length), ", 4-hash promise)")
        );
        vm.assertEq(registry.burned(), MIN_BOND / 2, "slashed");
        vm.assertLe(gasUsed, SLASH_BASE + SLASH_PER_HASH * length, "slashPromise <= 120k + 400 per batch hash");
    }

    function test_slashPromise_gas_batchOf16() public {
        measureBrokenBatch(16);
    }

    function test_slashPromise_gas_batchOf256() public {
        measureBrokenBatch(256);
    }

    function test_slashPromise_gas_missed() public {
        SequencerRegistry.Preconfirmation memory p = promiseFor(slot, hashes(4, "promised"), keccak256("bundle"));
        bytes memory signature = signPromise(chosen, p);
        warpPastGrace(slot);
        cool();
        registry.slashPromise(p, signature, new bytes32[](0));
        uint256 gasUsed = vm.snapshotGasLastCall("slashPromise (cold, missed slot, 4-hash promise)");
        vm.assertEq(registry.burned(), MIN_BOND / 2, "slashed");
        vm.assertLe(gasUsed, SLASH_BASE, "slashPromise of a missed slot <= 120k");
    }

    // ------------------------------------------------------------------------------ reportMiss

    function test_reportMiss_gas_firstMiss() public {
        warpPastGrace(slot);
        cool();
        registry.reportMiss(ROLLUP, slot);
        uint256 gasUsed = vm.snapshotGasLastCall("reportMiss (cold, first miss)");
        vm.assertLe(gasUsed, 80_000, "reportMiss <= 80k gas");
    }

    /// @dev The third miss of one record within window 5 evicts it.
    function test_reportMiss_gas_eviction() public {
        uint64[3] memory slots;
        address evicted;
        for (uint64 first = windowStart(5); evicted == address(0); ++first) {
            uint256 found;
            for (uint64 s = first; s < windowStart(6) && found < 3; ++s) {
                if (selected(s) == selected(first)) slots[found++] = s;
            }
            if (found == 3) evicted = selected(first);
        }
        warpPastGrace(slots[2]);
        registry.reportMiss(ROLLUP, slots[0]);
        registry.reportMiss(ROLLUP, slots[1]);
        cool();
        registry.reportMiss(ROLLUP, slots[2]);
        uint256 gasUsed = vm.snapshotGasLastCall("reportMiss (cold, third miss evicts)");
        (, uint256 index) = registry.sequencerAt(ROLLUP, slots[2]);
        vm.assertEq(activeUntil(ROLLUP, index), 8, "evicted from window 5 + 3");
        vm.assertLe(gasUsed, 80_000, "reportMiss <= 80k gas");
    }

    // ----------------------------------------------------------------------------- sequencerAt

    function test_sequencerAt_gas() public {
        cool();
        registry.sequencerAt(ROLLUP, slot);
        uint256 gasUsed = vm.snapshotGasLastCall("sequencerAt (cold)");
        vm.assertLe(gasUsed, 10_000, "sequencerAt <= 10k gas");
    }
}

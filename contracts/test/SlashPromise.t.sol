// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {SequencerRegistry} from "../src/SequencerRegistry.sol";
import {SlotInbox} from "../src/SlotInbox.sol";
import {AccountabilityFixture} from "./utils/AccountabilityFixture.sol";

/// @notice SPEC §8, slashing a broken promise. Alice (index 0) and Bob (index 1) register in window
///         0 with the minimum bond; the seed of window 5 is stored and the clock is in window 5.
///         `chosen` (at `chosenIndex`) is selected for `slot`, `other` is not; `promised` is the
///         promise `chosen`'s signer gave for four hashes of `slot`. Carol challenges.
contract SlashPromiseTest is AccountabilityFixture {
    uint256 internal constant OTHER_ROLLUP = 11;
    /// @dev Window 5 + 3: where a record slashed in window 5 stops being active.
    uint64 internal constant FORCED_UNTIL = 8;

    uint64 internal slot;
    address internal chosen;
    uint256 internal chosenIndex;
    address internal other;
    SequencerRegistry.Preconfirmation internal promised;

    function setUp() public override {
        super.setUp();
        registerAs(alice, ROLLUP);
        registerAs(bob, ROLLUP);
        registry.registerRollup(OTHER_ROLLUP, admin, MIN_BOND);
        warpToWindow(5);
        checkpoint(5);
        slot = windowStart(5) + 10;
        (chosen, chosenIndex) = registry.sequencerAt(ROLLUP, slot);
        other = chosen == alice ? bob : alice;
        promised = promiseFor(slot, hashes(4, "promised"), keccak256("bundle"));
    }

    function slash(SequencerRegistry.Preconfirmation memory p, bytes memory signature, bytes32[] memory batch)
        internal
        returns (uint256)
    {
        vm.prank(carol);
        return registry.slashPromise(p, signature, batch);
    }

    function slash(SequencerRegistry.Preconfirmation memory p, bytes32[] memory batch) internal returns (uint256) {
        return slash(p, signPromise(chosen, p), batch);
    }

    function postAndClose(bytes32[] memory batch) internal {
        warpToSlot(slot);
        propose(chosen, slot, batch);
        warpPastGrace(slot);
    }

    /// @dev `promised`'s hashes with the one at `drop` replaced by a hash not promised.
    function lacking(uint256 drop) internal view returns (bytes32[] memory batch) {
        batch = new bytes32[](promised.txHashes.length);
        for (uint256 i; i < batch.length; ++i) {
            batch[i] = i == drop ? keccak256("something else") : promised.txHashes[i];
        }
    }

    function recover(bytes32 digest, bytes memory signature) internal pure returns (address) {
        (bytes32 r, bytes32 s) = abi.decode(signature, (bytes32, bytes32));
        return ecrecover(digest, uint8(signature[64]), r, s);
    }

    function expectInvalidSignature(address recovered) internal {
        vm.expectRevert(
            abi.encodeWithSelector(SequencerRegistry.InvalidPromiseSignature.selector, signerOf(chosen), recovered)
        );
    }

    // ------------------------------------------------------------------------------- the digest

    function test_promiseDigest_isEip712OfSpec() public view {
        vm.assertEq(
            registry.PRECONFIRMATION_TYPEHASH(),
            keccak256("Preconfirmation(uint256 chainId,uint64 slot,bytes32[] txHashes,bytes32 bundleId)"),
            "Preconfirmation typehash"
        );
        vm.assertEq(registry.promiseDigest(promised), promiseDigestOf(promised), "digest");
    }

    // ---------------------------------------------------------------------------------- broken

    function test_slashPromise_missedSlotBreaksThePromise() public {
        warpPastGrace(slot);
        bytes32 digest = promiseDigestOf(promised);
        uint256 carolBefore = carol.balance;
        vm.expectEmit(address(registry));
        emit SequencerRegistry.Slashed(ROLLUP, chosenIndex, slot, digest, MIN_BOND, carol, FORCED_UNTIL);
        uint256 amount = slash(promised, new bytes32[](0));

        vm.assertEq(amount, MIN_BOND, "the whole bond");
        vm.assertEq(carol.balance - carolBefore, MIN_BOND / 2, "half to the challenger");
        vm.assertEq(registry.burned(), MIN_BOND / 2, "half burned");
        vm.assertEq(bondOf(chosenIndex), 0, "no bond left");
        vm.assertEq(activeUntil(ROLLUP, chosenIndex), FORCED_UNTIL, "forced out from window 5 + 3");
        vm.assertTrue(registry.isSlashed(digest), "slashed");
        vm.assertEq(address(registry).balance, MIN_BOND + registry.burned(), "the other bond and the burned half");
    }

    function test_slashPromise_missedSlotBreaksEveryPromiseButTheBondIsTakenOnce() public {
        warpPastGrace(slot);
        slash(promised, new bytes32[](0));
        SequencerRegistry.Preconfirmation memory second = promiseFor(slot, hashes(1, "second"), keccak256("b2"));
        bytes32 digest = promiseDigestOf(second);
        vm.expectEmit(address(registry));
        emit SequencerRegistry.Slashed(ROLLUP, chosenIndex, slot, digest, 0, carol, FORCED_UNTIL);
        vm.assertEq(slash(second, new bytes32[](0)), 0, "nothing left to take");
        vm.assertTrue(registry.isSlashed(digest), "the second promise is slashed too");
        vm.assertEq(registry.burned(), MIN_BOND / 2, "burned once");
        vm.assertEq(activeUntil(ROLLUP, chosenIndex), FORCED_UNTIL, "activeUntil unchanged");
    }

    function test_slashPromise_postedBatchLackingAPromisedHash() public {
        bytes32[] memory batch = lacking(2);
        postAndClose(batch);
        vm.assertEq(slash(promised, batch), MIN_BOND, "a batch without promised hash 2 breaks it");
        vm.assertEq(bondOf(chosenIndex), 0, "bond taken");
    }

    function test_slashPromise_postedBatchIsJudgedBeforeTheGraceEnds() public {
        bytes32[] memory batch = lacking(1);
        warpToSlot(slot);
        propose(chosen, slot, batch);
        vm.assertEq(slash(promised, batch), MIN_BOND, "a posted batch is final: no need to wait for the close");
    }

    function test_slashPromise_oddBondBurnsTheLargerHalf() public {
        SlotInbox otherInbox = new SlotInbox(registry, OTHER_ROLLUP, GRACE_SLOTS);
        vm.prank(admin);
        registry.setInbox(OTHER_ROLLUP, address(otherInbox));
        uint256 bond = MIN_BOND + 1;
        bytes memory proof = consent(signerKeyOf(carol), OTHER_ROLLUP, carol);
        vm.prank(carol);
        registry.register{value: bond}(OTHER_ROLLUP, signerOf(carol), URL, proof);
        warpToWindow(8);
        checkpoint(8);
        SequencerRegistry.Preconfirmation memory p = promiseFor(windowStart(8), hashes(1, "x"), bytes32(0));
        p.chainId = OTHER_ROLLUP;
        warpPastGrace(p.slot);
        bytes memory signature = signPromise(carol, p);
        uint256 before = alice.balance;
        vm.prank(alice);
        vm.assertEq(registry.slashPromise(p, signature, new bytes32[](0)), bond, "the whole bond");
        vm.assertEq(alice.balance - before, bond / 2, "the challenger gets the smaller half");
        vm.assertEq(registry.burned(), bond - bond / 2, "the odd wei is burned");
    }

    function test_slashPromise_sequencerOfTheSlotCanBeTheChallenger() public {
        warpPastGrace(slot);
        uint256 before = chosen.balance;
        vm.prank(chosen);
        registry.slashPromise(promised, signPromise(chosen, promised), new bytes32[](0));
        vm.assertEq(chosen.balance - before, MIN_BOND / 2, "half back, half burned: self-slashing still costs");
        vm.assertEq(registry.burned(), MIN_BOND / 2, "burned");
    }

    function test_slashPromise_zeroHashIsAHashLikeAnyOther() public {
        bytes32[] memory withZero = new bytes32[](2);
        withZero[1] = keccak256("x");
        SequencerRegistry.Preconfirmation memory p = promiseFor(slot, new bytes32[](1), bytes32(0));
        postAndClose(withZero);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.PromiseKept.selector, promiseDigestOf(p)));
        slash(p, withZero);
        vm.assertEq(slash(promiseFor(slot, hashes(1, "x"), bytes32(0)), withZero), MIN_BOND, "hash not zero lacks");
    }

    function test_slashPromise_zeroHashMissingFromTheBatch() public {
        bytes32[] memory batch = hashes(3, "batch");
        postAndClose(batch);
        vm.assertEq(slash(promiseFor(slot, new bytes32[](1), bytes32(0)), batch), MIN_BOND, "zero hash promised");
    }

    // ---------------------------------------------------------------------------------- kept

    function test_slashPromise_revertsForAKeptPromise() public {
        bytes32[] memory batch = new bytes32[](7);
        batch[0] = keccak256("extra 0");
        batch[1] = promised.txHashes[3];
        batch[2] = promised.txHashes[1];
        batch[3] = keccak256("extra 1");
        batch[4] = promised.txHashes[0];
        batch[5] = promised.txHashes[2];
        batch[6] = promised.txHashes[2];
        postAndClose(batch);
        bytes memory signature = signPromise(chosen, promised);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.PromiseKept.selector, promiseDigestOf(promised)));
        slash(promised, signature, batch);
        vm.assertEq(bondOf(chosenIndex), MIN_BOND, "bond intact");
    }

    function test_slashPromise_revertsForAnEmptyPromise() public {
        bytes32[] memory batch = hashes(2, "batch");
        postAndClose(batch);
        SequencerRegistry.Preconfirmation memory p = promiseFor(slot, new bytes32[](0), bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.PromiseKept.selector, promiseDigestOf(p)));
        slash(p, batch);
    }

    function test_slashPromise_revertsForRepeatedHashesOnceIncluded() public {
        bytes32[] memory batch = hashes(1, "tx");
        bytes32[] memory twice = new bytes32[](2);
        (twice[0], twice[1]) = (batch[0], batch[0]);
        postAndClose(batch);
        SequencerRegistry.Preconfirmation memory p = promiseFor(slot, twice, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.PromiseKept.selector, promiseDigestOf(p)));
        slash(p, batch);
    }

    function test_slashPromise_revertsWhenTheBatchGivenIsNotThePostedOne() public {
        bytes32[] memory batch = lacking(0);
        postAndClose(batch);
        bytes32[] memory claimed = promised.txHashes;
        vm.expectRevert(
            abi.encodeWithSelector(
                SequencerRegistry.BatchMismatch.selector,
                keccak256(abi.encodePacked(batch)),
                keccak256(abi.encodePacked(claimed))
            )
        );
        slash(promised, claimed);
        bytes32[] memory none = new bytes32[](0);
        vm.expectRevert(
            abi.encodeWithSelector(
                SequencerRegistry.BatchMismatch.selector, keccak256(abi.encodePacked(batch)), keccak256("")
            )
        );
        slash(promised, none);
    }

    // --------------------------------------------------------------------------------- timing

    function test_slashPromise_revertsWhileTheSlotIsOpen() public {
        bytes memory signature = signPromise(chosen, promised);
        for (uint64 current = slot - 1; current <= slot + GRACE_SLOTS; ++current) {
            warpToSlot(current);
            vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.SlotNotClosed.selector, slot));
            slash(promised, signature, new bytes32[](0));
        }
    }

    function test_slashPromise_lastSlotOfTheSlashingWindow() public {
        vm.warp(GENESIS + uint256(windowStart(5 + WITHDRAWAL_DELAY)) * SLOT_SECONDS - 1);
        vm.assertEq(slash(promised, new bytes32[](0)), MIN_BOND, "window 5 + 31 still slashes");
        vm.assertEq(activeUntil(ROLLUP, chosenIndex), 5 + WITHDRAWAL_DELAY - 1 + 3, "forced out from now + 3");
    }

    function test_slashPromise_revertsTooLate() public {
        warpToWindow(5 + WITHDRAWAL_DELAY);
        bytes memory signature = signPromise(chosen, promised);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.TooLate.selector, slot, 5 + WITHDRAWAL_DELAY));
        slash(promised, signature, new bytes32[](0));
    }

    // ----------------------------------------------------------------------------- signatures

    function test_slashPromise_revertsForAnotherL1() public {
        warpPastGrace(slot);
        bytes memory signature = signDigest(signerKeyOf(chosen), promiseDigestOf(17_000, address(registry), promised));
        expectInvalidSignature(recover(promiseDigestOf(promised), signature));
        slash(promised, signature, new bytes32[](0));
    }

    function test_slashPromise_revertsForAnotherRegistry() public {
        warpPastGrace(slot);
        bytes memory signature = signDigest(signerKeyOf(chosen), promiseDigestOf(block.chainid, carol, promised));
        expectInvalidSignature(recover(promiseDigestOf(promised), signature));
        slash(promised, signature, new bytes32[](0));
    }

    function test_slashPromise_revertsForAnotherSequencersSignature() public {
        warpPastGrace(slot);
        expectInvalidSignature(signerOf(other));
        slash(promised, signPromise(other, promised), new bytes32[](0));
    }

    function test_slashPromise_revertsForAForgedSignature() public {
        warpPastGrace(slot);
        bytes memory forged = signDigest(0xBAD, promiseDigestOf(promised));
        expectInvalidSignature(vm.addr(0xBAD));
        slash(promised, forged, new bytes32[](0));
    }

    function test_slashPromise_revertsForATamperedPromise() public {
        warpPastGrace(slot);
        bytes memory signature = signPromise(chosen, promised);
        SequencerRegistry.Preconfirmation memory tampered = promised;
        tampered.bundleId = keccak256("another bundle");
        expectInvalidSignature(recover(promiseDigestOf(tampered), signature));
        slash(tampered, signature, new bytes32[](0));
    }

    function test_slashPromise_revertsForMalformedSignatures() public {
        warpPastGrace(slot);
        bytes memory signature = signPromise(chosen, promised);
        (bytes32 r, bytes32 s) = abi.decode(signature, (bytes32, bytes32));
        uint8 v = uint8(signature[64]);
        bytes memory highS = abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        vm.assertEq(recover(promiseDigestOf(promised), highS), signerOf(chosen), "ecrecover itself takes high s");
        bytes[3] memory malformed = [abi.encodePacked(r, s), highS, abi.encodePacked(r, s, uint8(29))];
        for (uint256 i; i < malformed.length; ++i) {
            expectInvalidSignature(address(0));
            slash(promised, malformed[i], new bytes32[](0));
        }
    }

    function test_slashPromise_acceptsVAsZeroOrOne() public {
        warpPastGrace(slot);
        bytes memory signature = signPromise(chosen, promised);
        signature[64] = bytes1(uint8(signature[64]) - 27);
        vm.assertEq(slash(promised, signature, new bytes32[](0)), MIN_BOND, "v in {0, 1}");
    }

    // ----------------------------------------------------------------------- other refusals

    function test_slashPromise_revertsWhenSlashedAlready() public {
        warpPastGrace(slot);
        bytes memory signature = signPromise(chosen, promised);
        slash(promised, signature, new bytes32[](0));
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.AlreadySlashed.selector, promiseDigestOf(promised)));
        slash(promised, signature, new bytes32[](0));
    }

    function test_slashPromise_revertsWithoutInbox() public {
        vm.prank(alice);
        registry.register{value: MIN_BOND}(
            OTHER_ROLLUP, signerOf(alice), URL, consent(signerKeyOf(alice), OTHER_ROLLUP, alice)
        );
        warpToWindow(8);
        checkpoint(8);
        SequencerRegistry.Preconfirmation memory p = promiseFor(windowStart(8), promised.txHashes, bytes32(0));
        p.chainId = OTHER_ROLLUP;
        warpPastGrace(p.slot);
        bytes memory signature = signPromise(alice, p);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NoInbox.selector, OTHER_ROLLUP, 8));
        slash(p, signature, new bytes32[](0));
    }

    function test_slashPromise_revertsWithoutSequencer() public {
        SequencerRegistry.Preconfirmation memory p = promised;
        p.chainId = OTHER_ROLLUP;
        warpPastGrace(slot);
        bytes memory signature = signPromise(chosen, p);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NoSequencer.selector, OTHER_ROLLUP, slot));
        slash(p, signature, new bytes32[](0));

        checkpoint(2);
        p = promiseFor(windowStart(2), promised.txHashes, bytes32(0));
        signature = signPromise(chosen, p);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.NoSequencer.selector, ROLLUP, windowStart(2)));
        slash(p, signature, new bytes32[](0));
    }

    function test_slashPromise_revertsWithoutSeed() public {
        SequencerRegistry.Preconfirmation memory p = promiseFor(windowStart(4) + 1, promised.txHashes, bytes32(0));
        bytes memory signature = signPromise(chosen, p);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.SeedUnknown.selector, 4));
        slash(p, signature, new bytes32[](0));
    }

    // ------------------------------------------------------------------------ the forced exit

    function test_slashPromise_theRecordIsNoLongerSelectedFromActiveUntil() public {
        warpPastGrace(slot);
        slash(promised, new bytes32[](0));
        warpToWindow(7);
        checkpoint(7);
        checkpoint(8);
        bool stillServes;
        for (uint64 s = windowStart(7); s < windowStart(8); ++s) {
            if (selected(s) == chosen) stillServes = true;
        }
        vm.assertTrue(stillServes, "active until window 8: still selected in window 7");
        for (uint64 s = windowStart(8); s < windowStart(9); ++s) {
            vm.assertEq(selected(s), other, "only the other record from window 8 on");
            vm.assertFalse(registry.isSelected(ROLLUP, s, signerOf(chosen)), "its signer may not post");
        }
    }

    function test_slashPromise_laterSlashForcesOutFromItsOwnWindow() public {
        warpToWindow(20);
        slash(promised, new bytes32[](0));
        vm.assertEq(activeUntil(ROLLUP, chosenIndex), 23, "max(activeFrom, 20 + 3)");
    }

    function test_slashPromise_keepsAnEarlierExit() public {
        vm.prank(chosen);
        registry.requestExit(ROLLUP, chosenIndex);
        warpToWindow(7);
        vm.expectEmit(address(registry));
        emit SequencerRegistry.Slashed(ROLLUP, chosenIndex, slot, promiseDigestOf(promised), MIN_BOND, carol, 8);
        slash(promised, new bytes32[](0));
        vm.assertEq(activeUntil(ROLLUP, chosenIndex), 8, "the exit requested in window 5 stands");
    }

    function test_slashPromise_slashedRecordWithdrawsNothingAfterTheDelay() public {
        warpPastGrace(slot);
        slash(promised, new bytes32[](0));
        warpToWindow(FORCED_UNTIL + WITHDRAWAL_DELAY - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                SequencerRegistry.WithdrawalTooEarly.selector,
                FORCED_UNTIL + WITHDRAWAL_DELAY - 1,
                FORCED_UNTIL + WITHDRAWAL_DELAY
            )
        );
        vm.prank(chosen);
        registry.withdraw(ROLLUP, chosenIndex);
        warpToWindow(FORCED_UNTIL + WITHDRAWAL_DELAY);
        uint256 before = chosen.balance;
        vm.expectEmit(address(registry));
        emit SequencerRegistry.Withdrawn(ROLLUP, chosenIndex, 0);
        vm.prank(chosen);
        registry.withdraw(ROLLUP, chosenIndex);
        vm.assertEq(chosen.balance, before, "nothing left");
        vm.assertEq(address(registry).balance, MIN_BOND + registry.burned(), "the burned half stays");
    }

    // ---------------------------------------------------------------------------------- fuzz

    /// @dev A batch of up to 64 hashes (some zero, some repeated); a promise of up to 16 of its
    ///      hashes in any order. However the salt (prevrandao) falls, the promise is kept.
    function testFuzz_slashPromise_keptPromiseIsNeverSlashable(
        uint256 seed,
        uint256 batchLength,
        uint256 promiseLength,
        bytes32 randao,
        uint256 delay
    ) public {
        batchLength = bound(batchLength, 1, 64);
        bytes32[] memory batch = fuzzBatch(seed, batchLength);
        bytes32[] memory picked = new bytes32[](bound(promiseLength, 0, 16));
        for (uint256 i; i < picked.length; ++i) {
            picked[i] = batch[uint256(keccak256(abi.encode(seed, "pick", i))) % batchLength];
        }
        SequencerRegistry.Preconfirmation memory p = promiseFor(slot, picked, bytes32(seed));
        postAndClose(batch);
        warpToSlot(slot + GRACE_SLOTS + 1 + uint64(bound(delay, 0, 1000)));
        vm.prevrandao(randao);
        bytes memory signature = signPromise(chosen, p);
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.PromiseKept.selector, promiseDigestOf(p)));
        slash(p, signature, batch);
    }

    /// @dev The same, but one promised hash is not in the batch (or the slot was missed): the
    ///      promise is slashable at any time from the slot's close to the end of window 5 + 31.
    function testFuzz_slashPromise_brokenPromiseIsAlwaysSlashableInTheWindow(
        uint256 seed,
        uint256 batchLength,
        uint256 promiseLength,
        uint256 absentAt,
        bytes32 randao,
        uint256 delay,
        bool missed
    ) public {
        batchLength = bound(batchLength, 0, 64);
        bytes32[] memory batch = fuzzBatch(seed, batchLength);
        bytes32[] memory picked = new bytes32[](bound(promiseLength, 1, 16));
        absentAt = bound(absentAt, 0, picked.length - 1);
        for (uint256 i; i < picked.length; ++i) {
            picked[i] = i == absentAt || batchLength == 0
                ? keccak256(abi.encode(seed, "absent", i))
                : batch[uint256(keccak256(abi.encode(seed, "pick", i))) % batchLength];
        }
        SequencerRegistry.Preconfirmation memory p = promiseFor(slot, picked, bytes32(seed));
        if (missed) warpPastGrace(slot);
        else postAndClose(batch);
        uint64 lastSlot = windowStart(5 + WITHDRAWAL_DELAY) - 1;
        warpToSlot(uint64(bound(delay, slot + GRACE_SLOTS + 1, lastSlot)));
        vm.prevrandao(randao);
        uint256 carolBefore = carol.balance;
        vm.assertEq(slash(p, missed ? new bytes32[](0) : batch), MIN_BOND, "the whole bond");
        vm.assertEq(carol.balance - carolBefore, MIN_BOND / 2, "half to the challenger");
        vm.assertTrue(registry.isSlashed(promiseDigestOf(p)), "slashed");
    }

    /// @dev `length` hashes from `seed`; about one in eight is zero or repeats an earlier one.
    function fuzzBatch(uint256 seed, uint256 length) internal pure returns (bytes32[] memory batch) {
        batch = new bytes32[](length);
        for (uint256 i; i < length; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            if (r % 16 == 0) batch[i] = bytes32(0);
            else if (r % 16 == 1 && i > 0) batch[i] = batch[r % i];
            else batch[i] = bytes32(r);
        }
    }
}

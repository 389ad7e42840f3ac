// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {IRollupInbox} from "../src/IRollupInbox.sol";
import {SequencerRegistry} from "../src/SequencerRegistry.sol";
import {SlotInbox} from "../src/SlotInbox.sol";
import {Headers} from "./utils/AccountabilityFixture.sol";
import {Test} from "./utils/Test.sol";

/// @dev Drives one rollup through SPEC §8: sequencers register (reusing freed indices), sign
///      promises for slots whose seed is stored, post batches (honest ones carry every promised
///      hash, broken ones drop one) or miss their slots, challengers slash promises and report
///      misses, sequencers exit and withdraw, time moves on (mostly a few slots, sometimes past
///      the withdrawal delay). Every slash and report is predicted from the handler's own record
///      of batches and promises before it is sent; a prediction the registry contradicts is
///      counted as a violation, which the invariants require to stay zero.
///
///      Seeds: the first call in window C checkpoints the seeds of C-1, C and C+1 (their anchors
///      lie before C starts) and records `sequencerAt` for sampled slots of each not recorded
///      yet. A change included from then on takes effect from C+3, and one included in C-1 from
///      C+2, so those answers must hold for as long as the windows can be judged (SPEC §4, §8).
///
///      Staged before the run (so that every run can exercise each path, asserted in
///      `afterInvariant`): a record evicted in window 3, withdrawable when the run starts at
///      slot 20 of window 38; four more records active from window 6; slots 0 to 15 of window
///      38 missed, two of them reported against the record selected most often there, and a
///      broken promise for slot 2. Long jumps in time come only after the run's first 40 calls.
contract AccountabilityHandler is Test {
    struct Promised {
        uint64 slot;
        bytes32[] txHashes;
        bytes32 bundleId;
        bytes signature;
        bytes32 digest;
        address operator;
    }

    struct Answer {
        bool recorded;
        address operator;
        uint256 index;
    }

    uint64 internal constant GENESIS = 1_700_000_000;
    uint64 internal constant SLOT_SECONDS = 12;
    uint64 internal constant WINDOW_SLOTS = 32;
    uint64 internal constant GRACE_SLOTS = 4;
    uint64 internal constant WITHDRAWAL_DELAY = 32;
    uint256 internal constant ROLLUP = 10;
    uint256 internal constant OPERATORS = 6;
    uint256 internal constant NONE = type(uint256).max;
    /// Slots sampled per window for the schedule snapshots.
    uint64 internal constant SAMPLES = 2;
    address internal constant CHALLENGER = address(0xC4A11);
    address internal constant REPORTER = address(0x8E9087);

    SequencerRegistry public immutable registry;
    SlotInbox public immutable inbox;
    address[OPERATORS] internal operators;
    /// index + 1 of the operator's newest unwithdrawn record, 0 for none.
    mapping(address operator => uint256) internal recordOf;

    // The handler's record of the chain.
    mapping(uint64 slot => bool) internal posted;
    mapping(uint64 slot => bytes32[]) internal batchOf;
    mapping(uint64 slot => bytes32[]) internal promisedIn;
    mapping(uint64 slot => bool) internal reported;
    mapping(bytes32 digest => bool) internal ghostSlashed;
    mapping(uint256 index => bool) internal evicted;
    Promised[] internal promises;
    mapping(uint64 window => bool) internal seen;
    mapping(uint64 slot => Answer) internal answers;
    uint64 public firstWindow;
    /// Handler calls in this run.
    uint256 internal calls;

    // Money.
    uint256 public deposits;
    uint256 public withdrawn;
    uint256 public rewards;
    uint256 public penalties;
    uint256 public ghostBurned;

    // Paths that ran.
    uint256 public registers;
    uint256 public promisesSigned;
    /// Batches with every promised hash of their slot, and batches of slots without promises.
    uint256 public honestBatches;
    uint256 public plainBatches;
    uint256 public brokenBatches;
    uint256 public slashes;
    uint256 public slashesOfNothing;
    uint256 public keptRefused;
    uint256 public misses;
    uint256 public evictions;
    uint256 public exits;
    uint256 public withdrawals;
    uint256 public withdrawalsAfterEviction;
    uint256 public windowsObserved;

    // Violations: must stay 0.
    uint256 public keptSlashed;
    uint256 public brokenNotSlashed;
    uint256 public unexpectedSlashes;
    uint256 public doubleSlashes;
    uint256 public forgedSlashes;
    uint256 public wrongBatchSlashes;
    uint256 public missNotReported;
    uint256 public unexpectedReports;
    uint256 public doubleReports;
    uint256 public strangerPosts;
    uint256 public wrongAmounts;

    constructor(SequencerRegistry registry_, SlotInbox inbox_) {
        registry = registry_;
        inbox = inbox_;
        for (uint256 i; i < OPERATORS; ++i) {
            // forge-lint: disable-next-line(unsafe-typecast)
            operators[i] = address(uint160(0x5000 + i));
        }
        // Window 0: operator 0 registers (active from 3).
        enroll(operators[0], 1 ether);
        // Window 3: it misses three slots and is evicted (active until 6); four more register.
        vm.warp(GENESIS + 3 * WINDOW_SLOTS * SLOT_SECONDS);
        checkpoint(3);
        vm.warp(block.timestamp + (3 + GRACE_SLOTS) * SLOT_SECONDS);
        for (uint64 slot = 3 * WINDOW_SLOTS; slot < 3 * WINDOW_SLOTS + 3; ++slot) {
            vm.prank(REPORTER);
            penalties += registry.reportMiss(ROLLUP, slot);
        }
        vm.assertEq(registry.getSequencer(ROLLUP, 0).activeUntil, 6, "staged: evicted from window 6");
        evicted[0] = true;
        for (uint256 i = 1; i < 5; ++i) {
            enroll(operators[i], 1 ether + i * 0.5 ether);
        }
        // Slot 20 of window 38: the evicted bond is withdrawable, slots 0 to 15 were missed,
        // the promise given for slot 2 is broken, and the record selected for the most of those
        // slots (three at least, among four records) has two of its misses reported already.
        vm.warp(GENESIS + (38 * WINDOW_SLOTS + 20) * SLOT_SECONDS);
        firstWindow = 37;
        observe();
        promiseFor(38 * WINDOW_SLOTS + 2, 0);
        promisesSigned = 0;
        stageMisses(38 * WINDOW_SLOTS, 16);
    }

    /// @dev Reports two misses of the record selected most often among `count` slots from `first`.
    function stageMisses(uint64 first, uint64 count) internal {
        uint256[OPERATORS] memory tally;
        uint256 most;
        for (uint64 slot = first; slot < first + count; ++slot) {
            (, uint256 index) = registry.sequencerAt(ROLLUP, slot);
            if (++tally[index] > tally[most]) most = index;
        }
        uint256 staged;
        for (uint64 slot = first; staged < 2; ++slot) {
            (, uint256 index) = registry.sequencerAt(ROLLUP, slot);
            if (index != most) continue;
            vm.prank(REPORTER);
            penalties += registry.reportMiss(ROLLUP, slot);
            reported[slot] = true;
            ++staged;
        }
    }

    modifier observed() {
        ++calls;
        observe();
        _;
    }

    // -------------------------------------------------------------------------------- actions

    /// @dev An operator without a record that is still to serve registers (again).
    function register(uint256 operatorSeed, uint256 bondSeed) external observed {
        address operator = operators[operatorSeed % OPERATORS];
        if (recordOf[operator] != 0 && registry.getSequencer(ROLLUP, recordOf[operator] - 1).activeUntil == 0) return;
        enroll(operator, 1 ether + bondSeed % 3 ether);
        ++registers;
    }

    /// @dev Registers `operator` with its own signer key (and that key's consent).
    function enroll(address operator, uint256 bond) internal {
        bytes32 digest = registry.signerConsentDigest(ROLLUP, operator);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signerKeyOf(operator), digest);
        vm.deal(operator, bond);
        vm.prank(operator);
        uint256 index =
            registry.register{value: bond}(ROLLUP, signerOf(operator), "http://x", abi.encodePacked(r, s, v));
        recordOf[operator] = index + 1;
        evicted[index] = false;
        deposits += bond;
    }

    /// @dev The selected sequencer of a slot up to 3 (one time in four: 39) slots ahead promises
    ///      one to four hashes (sometimes one promised in the slot already).
    function signPromise(uint256 slotSeed, uint256 hashSeed) external observed {
        slotSeed = uint256(keccak256(abi.encode(slotSeed)));
        promiseFor(registry.currentSlot() + uint64((slotSeed >> 8) % (slotSeed % 4 == 0 ? 40 : 4)), hashSeed);
    }

    function promiseFor(uint64 slot, uint256 hashSeed) internal {
        if (registry.seedOf(slot / WINDOW_SLOTS) == bytes32(0)) return;
        (address operator, uint256 index) = registry.sequencerAt(ROLLUP, slot);
        if (index == NONE) return;
        bytes32[] memory txHashes = new bytes32[](1 + hashSeed % 4);
        bytes32[] storage earlier = promisedIn[slot];
        for (uint256 i; i < txHashes.length; ++i) {
            txHashes[i] = earlier.length != 0 && (hashSeed >> (8 + i)) % 4 == 0
                ? earlier[(hashSeed >> 16) % earlier.length]
                : keccak256(abi.encode(hashSeed, i));
        }
        SequencerRegistry.Preconfirmation memory p = SequencerRegistry.Preconfirmation({
            chainId: ROLLUP, slot: slot, txHashes: txHashes, bundleId: keccak256(abi.encode("bundle", hashSeed))
        });
        bytes32 digest = registry.promiseDigest(p);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signerKeyOf(operator), digest);
        promises.push(Promised(slot, txHashes, p.bundleId, abi.encodePacked(r, s, v), digest, operator));
        for (uint256 i; i < txHashes.length; ++i) {
            earlier.push(txHashes[i]);
        }
        ++promisesSigned;
    }

    /// @dev The selected sequencer of a slot still in its grace period (one with promises if
    ///      there is one) posts its batch: a few hashes of its own and every promised hash, or
    ///      (half the time) all but one. A stranger's attempt to post first must fail.
    function propose(uint256 seed) external observed {
        seed = uint256(keccak256(abi.encode(seed)));
        uint64 current = registry.currentSlot();
        // forge-lint: disable-next-line(unsafe-typecast)
        uint64 slot = current - uint64(seed % (GRACE_SLOTS + 1));
        for (uint64 back; back <= GRACE_SLOTS; ++back) {
            if (!posted[current - back] && promisedIn[current - back].length != 0) slot = current - back;
        }
        if (posted[slot] || registry.seedOf(slot / WINDOW_SLOTS) == bytes32(0)) return;
        (address operator, uint256 index) = registry.sequencerAt(ROLLUP, slot);
        bytes32[] storage promisedHashes = promisedIn[slot];
        bool broken = promisedHashes.length != 0 && (seed >> 8) % 2 == 0;
        uint256 extras = (seed >> 16) % 3;
        bytes32[] memory batch = new bytes32[](extras + promisedHashes.length - (broken ? 1 : 0));
        uint256 n;
        uint256 dropped = broken ? (seed >> 24) % promisedHashes.length : type(uint256).max;
        for (uint256 i; i < promisedHashes.length; ++i) {
            // Drop every copy of the dropped hash, so the batch really lacks it.
            if (broken && promisedHashes[i] == promisedHashes[dropped]) continue;
            batch[n++] = promisedHashes[i];
        }
        for (uint256 i; i < extras; ++i) {
            batch[n++] = keccak256(abi.encode("extra", slot, i));
        }
        assembly ("memory-safe") {
            mstore(batch, n)
        }

        vm.prank(address(0x5742A9));
        try inbox.propose(slot, batch, "", "") {
            ++strangerPosts;
        } catch {}
        if (index == NONE) return;
        vm.prank((seed >> 32) % 2 == 0 ? operator : signerOf(operator));
        inbox.propose(slot, batch, "", "");
        posted[slot] = true;
        batchOf[slot] = batch;
        if (broken) ++brokenBatches;
        else if (promisedHashes.length != 0) ++honestBatches;
        else ++plainBatches;
    }

    /// @dev Slashes a promise, predicting the outcome first: a promise not slashed yet, whose
    ///      slot is less than `WITHDRAWAL_DELAY` windows old and has a batch without one of its
    ///      hashes or closed without a batch, must be slashed; anything else must be refused. Six
    ///      times in eight the first promise predicted slashable from a random one on is taken,
    ///      once the first kept one (its slot's batch holds every hash it promised), once the
    ///      random one whatever it is. Sometimes a forged signature or a batch other than the
    ///      posted one is tried first: both must fail.
    function slash(uint256 promiseSeed, uint256 variant) external observed {
        variant = uint256(keccak256(abi.encode(variant)));
        uint256 count = promises.length;
        if (count == 0) return;
        uint256 pick = promiseSeed % count;
        for (uint256 k; k < count && variant % 8 < 6; ++k) {
            if (slashable(promises[(promiseSeed + k) % count])) {
                pick = (promiseSeed + k) % count;
                break;
            }
        }
        for (uint256 k; k < count && variant % 8 == 6; ++k) {
            Promised storage q = promises[(promiseSeed + k) % count];
            if (posted[q.slot] && inTime(q.slot) && includesAll(batchOf[q.slot], q.txHashes)) {
                pick = (promiseSeed + k) % count;
                break;
            }
        }
        Promised storage p = promises[pick];
        SequencerRegistry.Preconfirmation memory preconf = SequencerRegistry.Preconfirmation({
            chainId: ROLLUP, slot: p.slot, txHashes: p.txHashes, bundleId: p.bundleId
        });
        bytes32[] memory batch = batchOf[p.slot];
        bool expected = slashable(p);
        bool kept = posted[p.slot] && includesAll(batch, p.txHashes);

        if ((variant >> 4) % 4 == 0) {
            address other = operators[(variant >> 8) % OPERATORS];
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(signerKeyOf(other), p.digest);
            if (other != p.operator && trySlash(preconf, abi.encodePacked(r, s, v), batch)) ++forgedSlashes;
        } else if ((variant >> 4) % 4 == 1 && posted[p.slot]) {
            bytes32[] memory wrong = new bytes32[](batch.length + 1);
            for (uint256 i; i < batch.length; ++i) {
                wrong[i] = batch[i];
            }
            wrong[batch.length] = p.txHashes[0];
            if (trySlash(preconf, p.signature, wrong)) ++wrongBatchSlashes;
        }

        (, uint256 index) = registry.sequencerAt(ROLLUP, p.slot);
        uint256 bond = registry.getSequencer(ROLLUP, index).bond;
        uint256 before = CHALLENGER.balance;
        vm.prank(CHALLENGER);
        try registry.slashPromise(preconf, p.signature, batch) returns (uint256 amount) {
            if (!expected) {
                if (kept) ++keptSlashed;
                else ++unexpectedSlashes;
                return;
            }
            if (amount != bond || CHALLENGER.balance - before != amount / 2) ++wrongAmounts;
            ghostSlashed[p.digest] = true;
            rewards += amount / 2;
            ghostBurned += amount - amount / 2;
            ++slashes;
            if (amount == 0) ++slashesOfNothing;
            if (trySlash(preconf, p.signature, batch)) ++doubleSlashes;
        } catch {
            if (expected) ++brokenNotSlashed;
            else if (kept && inTime(p.slot)) ++keptRefused;
        }
    }

    /// @dev Reports up to three missed slots among the last three windows, predicting each: a
    ///      closed slot of a checkpointed window with a selected sequencer, no batch and no
    ///      report yet, less than `WITHDRAWAL_DELAY` windows ago, must be reported; a second
    ///      report of it must fail. One more slot, chosen at random, is checked against the same
    ///      prediction whatever it is.
    function reportMiss(uint256 seed) external observed {
        uint64 current = registry.currentSlot();
        if (current < 3 * WINDOW_SLOTS + GRACE_SLOTS + 1) return;
        uint64 newest = current - GRACE_SLOTS - 1;
        uint256 done;
        // forge-lint: disable-next-line(unsafe-typecast)
        for (uint64 back = uint64(seed % 8); back < 3 * WINDOW_SLOTS && done < 3; ++back) {
            if (missable(newest - back)) {
                report(newest - back, true);
                ++done;
            }
        }
        uint64 any = newest - uint64((seed >> 8) % (3 * WINDOW_SLOTS));
        report(any, missable(any));
    }

    /// @dev An operator leaves, as long as two other records stay.
    function requestExit(uint256 operatorSeed) external observed {
        address operator = operators[operatorSeed % OPERATORS];
        if (recordOf[operator] == 0) return;
        uint256 index = recordOf[operator] - 1;
        if (registry.getSequencer(ROLLUP, index).activeUntil != 0) return;
        (,, uint256 count) = registry.rollup(ROLLUP);
        uint256 staying;
        for (uint256 i; i < count; ++i) {
            if (registry.getSequencer(ROLLUP, i).activeUntil == 0) ++staying;
        }
        if (staying < 3) return;
        vm.prank(operator);
        registry.requestExit(ROLLUP, index);
        ++exits;
    }

    /// @dev Withdraws the first withdrawable bond, an evicted record's if there is one; the
    ///      operator must receive exactly the record's remaining bond.
    function withdraw(uint256 seed) external observed {
        (,, uint256 count) = registry.rollup(ROLLUP);
        uint64 current = registry.currentWindow();
        uint256 chosen = NONE;
        for (uint256 k; k < count; ++k) {
            uint256 index = (seed + k) % count;
            SequencerRegistry.Sequencer memory record = registry.getSequencer(ROLLUP, index);
            if (record.withdrawn || record.activeUntil == 0 || current < record.activeUntil + WITHDRAWAL_DELAY) {
                continue;
            }
            if (chosen == NONE || evicted[index]) chosen = index;
            if (evicted[index]) break;
        }
        if (chosen == NONE) return;
        SequencerRegistry.Sequencer memory target = registry.getSequencer(ROLLUP, chosen);
        uint256 before = target.operator.balance;
        vm.prank(target.operator);
        registry.withdraw(ROLLUP, chosen);
        if (target.operator.balance - before != target.bond) ++wrongAmounts;
        withdrawn += target.bond;
        if (recordOf[target.operator] == chosen + 1) recordOf[target.operator] = 0;
        ++withdrawals;
        if (evicted[chosen]) ++withdrawalsAfterEviction;
    }

    /// @dev Mostly 1 to 6 slots, one time in four 1 to 24; one time in sixteen after the run's
    ///      first 40 calls (so that the staged misses and promise are still in their window when
    ///      the run starts) 33 to 40 windows. The seed is hashed first: forge favours round
    ///      numbers.
    function advanceTime(uint256 seed) external observed {
        seed = uint256(keccak256(abi.encode(seed)));
        uint256 slots = 1 + (seed >> 16) % ((seed >> 8) % 4 == 0 ? 24 : 6);
        if (seed % 16 == 0 && calls > 40) slots = (33 + (seed >> 8) % 8) * WINDOW_SLOTS;
        vm.warp(block.timestamp + slots * SLOT_SECONDS);
        observe();
    }

    // ------------------------------------------------------------------------------- helpers

    function report(uint64 slot, bool expected) internal {
        (, uint256 index) =
            registry.seedOf(slot / WINDOW_SLOTS) == bytes32(0) ? (address(0), NONE) : registry.sequencerAt(ROLLUP, slot);
        uint256 bond = index == NONE ? 0 : registry.getSequencer(ROLLUP, index).bond;
        uint256 before = REPORTER.balance;
        vm.prank(REPORTER);
        try registry.reportMiss(ROLLUP, slot) returns (uint256 penalty) {
            if (!expected) {
                ++unexpectedReports;
                return;
            }
            if (penalty != bond / 100 || REPORTER.balance - before != penalty) ++wrongAmounts;
            reported[slot] = true;
            penalties += penalty;
            ++misses;
            if (registry.getSequencer(ROLLUP, index).misses == 3) {
                evicted[index] = true;
                ++evictions;
            }
            vm.prank(REPORTER);
            try registry.reportMiss(ROLLUP, slot) {
                ++doubleReports;
            } catch {}
        } catch {
            if (expected) ++missNotReported;
        }
    }

    /// @dev The handler's prediction that `p` can be slashed now: not slashed yet, in time, and
    ///      its slot's batch lacks a promised hash (judged as soon as it is posted) or the slot
    ///      closed without one.
    function slashable(Promised storage p) internal view returns (bool) {
        if (ghostSlashed[p.digest] || !inTime(p.slot)) return false;
        return posted[p.slot] ? !includesAll(batchOf[p.slot], p.txHashes) : closed(p.slot);
    }

    function closed(uint64 slot) internal view returns (bool) {
        return registry.currentSlot() > slot + GRACE_SLOTS;
    }

    function inTime(uint64 slot) internal view returns (bool) {
        return registry.currentWindow() < slot / WINDOW_SLOTS + WITHDRAWAL_DELAY;
    }

    /// @dev The handler's prediction that `slot` can be reported missed now.
    function missable(uint64 slot) internal view returns (bool) {
        if (posted[slot] || reported[slot] || !closed(slot) || !inTime(slot)) return false;
        if (registry.seedOf(slot / WINDOW_SLOTS) == bytes32(0)) return false;
        (, uint256 index) = registry.sequencerAt(ROLLUP, slot);
        return index != NONE;
    }

    function trySlash(SequencerRegistry.Preconfirmation memory preconf, bytes memory signature, bytes32[] memory batch)
        internal
        returns (bool)
    {
        vm.prank(CHALLENGER);
        try registry.slashPromise(preconf, signature, batch) {
            return true;
        } catch {
            return false;
        }
    }

    function includesAll(bytes32[] memory batch, bytes32[] memory txHashes) internal pure returns (bool) {
        for (uint256 i; i < txHashes.length; ++i) {
            bool found;
            for (uint256 j; j < batch.length && !found; ++j) {
                found = batch[j] == txHashes[i];
            }
            if (!found) return false;
        }
        return true;
    }

    /// @dev The first call in window C: checkpoints C-1, C and C+1 and records their sampled
    ///      slots. A change included after anchor(C+1) takes effect from C+2 at the earliest.
    function observe() internal {
        uint64 current = registry.currentWindow();
        if (seen[current]) return;
        seen[current] = true;
        ++windowsObserved;
        for (uint64 window = current - 1; window <= current + 1; ++window) {
            if (window < 2) continue;
            if (registry.seedOf(window) == bytes32(0)) checkpoint(window);
            for (uint64 j; j < SAMPLES; ++j) {
                uint64 slot = sampleSlot(window, j);
                Answer storage answer = answers[slot];
                if (answer.recorded) continue;
                (address operator, uint256 index) = registry.sequencerAt(ROLLUP, slot);
                (answer.recorded, answer.operator, answer.index) = (true, operator, index);
            }
        }
    }

    /// @dev Mines anchor(window) and its child with a fresh prevrandao and checkpoints the seed.
    function checkpoint(uint64 window) internal {
        uint256 boundary = GENESIS + uint256(window - 1) * WINDOW_SLOTS * SLOT_SECONDS;
        uint256 number = block.number;
        bytes32 randao = keccak256(abi.encode("randao", window, number));
        bytes memory anchor = Headers.encode(bytes32(number), number, boundary - SLOT_SECONDS, randao);
        bytes memory next = Headers.encode(keccak256(anchor), number + 1, boundary, bytes32(0));
        vm.roll(number + 2);
        vm.setBlockhash(number + 1, keccak256(next));
        registry.checkpointSeed(window, anchor, next);
    }

    function sampleSlot(uint64 window, uint64 j) public pure returns (uint64) {
        return window * WINDOW_SLOTS + j * (WINDOW_SLOTS / SAMPLES) + window % (WINDOW_SLOTS / SAMPLES);
    }

    function recordedAnswer(uint64 slot) external view returns (bool, address, uint256) {
        Answer storage answer = answers[slot];
        return (answer.recorded, answer.operator, answer.index);
    }

    function promiseCount() external view returns (uint256) {
        return promises.length;
    }

    /// @dev Whether promise `i` was kept: its slot's batch holds every hash it promised.
    function promiseKept(uint256 i) external view returns (bool kept, bytes32 digest, bool slashed) {
        Promised storage p = promises[i];
        kept = posted[p.slot] && includesAll(batchOf[p.slot], p.txHashes);
        return (kept, p.digest, ghostSlashed[p.digest]);
    }

    function signerKeyOf(address operator) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode("signer", operator))) % (type(uint128).max) + 1;
    }

    function signerOf(address operator) internal pure returns (address) {
        return vm.addr(signerKeyOf(operator));
    }
}

/// @notice SPEC §8 invariants over random histories of promises, batches, slashes, misses,
///         evictions, exits and withdrawals (see `AccountabilityHandler`).
/// forge-config: default.invariant.runs = 32
/// forge-config: default.invariant.depth = 80
contract AccountabilityInvariantTest is Test {
    uint64 internal constant GENESIS = 1_700_000_000;
    uint64 internal constant WINDOW_SLOTS = 32;
    uint256 internal constant ROLLUP = 10;

    SequencerRegistry internal registry;
    SlotInbox internal inbox;
    AccountabilityHandler internal handler;

    event log_named_uint(string key, uint256 val);

    function setUp() public {
        vm.warp(GENESIS);
        vm.roll(22_000_000);
        registry = new SequencerRegistry(GENESIS, 12, WINDOW_SLOTS);
        registry.registerRollup(ROLLUP, address(this), 1 ether);
        inbox = new SlotInbox(registry, ROLLUP, 4);
        registry.setInbox(ROLLUP, address(inbox));
        handler = new AccountabilityHandler(registry, inbox);
    }

    /// @dev forge's invariant runner calls only the handler.
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @dev After each run: every path of SPEC §8 ran.
    function afterInvariant() public {
        emit log_named_uint("registers", handler.registers());
        emit log_named_uint("promisesSigned", handler.promisesSigned());
        emit log_named_uint("honestBatches", handler.honestBatches());
        emit log_named_uint("brokenBatches", handler.brokenBatches());
        emit log_named_uint("plainBatches", handler.plainBatches());
        emit log_named_uint("slashes", handler.slashes());
        emit log_named_uint("slashesOfNothing", handler.slashesOfNothing());
        emit log_named_uint("keptRefused", handler.keptRefused());
        emit log_named_uint("misses", handler.misses());
        emit log_named_uint("evictions", handler.evictions());
        emit log_named_uint("exits", handler.exits());
        emit log_named_uint("withdrawals", handler.withdrawals());
        emit log_named_uint("withdrawalsAfterEviction", handler.withdrawalsAfterEviction());
        emit log_named_uint("windowsObserved", handler.windowsObserved());
        vm.assertGt(handler.slashes(), 0, "a promise was slashed in the run");
        vm.assertGt(handler.misses(), 0, "a miss was reported in the run");
        vm.assertGt(handler.evictions(), 0, "a record was evicted in the run");
        vm.assertGt(handler.withdrawalsAfterEviction(), 0, "an evicted record withdrew in the run");
    }

    /// @dev The registry holds exactly the bonds not yet withdrawn plus what it burned, and the
    ///      money that left it is what the handler saw paid.
    function invariant_balanceIsBondsPlusBurned() public view {
        (,, uint256 count) = registry.rollup(ROLLUP);
        uint256 bonds;
        for (uint256 i; i < count; ++i) {
            bonds += registry.getSequencer(ROLLUP, i).bond;
        }
        vm.assertEq(address(registry).balance, bonds + registry.burned(), "balance == bonds + burned");
        vm.assertEq(registry.burned(), handler.ghostBurned(), "burned == the halves kept");
        vm.assertEq(
            address(registry).balance,
            handler.deposits() - handler.withdrawn() - handler.rewards() - handler.penalties(),
            "balance == bonds in - withdrawals - rewards - penalties"
        );
        vm.assertEq(handler.wrongAmounts(), 0, "every payment was the predicted amount");
    }

    /// @dev A sequencer that posted every promised hash is never slashed; every slashed digest
    ///      is one the handler slashed (once).
    function invariant_keptPromisesAreNeverSlashed() public view {
        for (uint256 i; i < handler.promiseCount(); ++i) {
            (bool kept, bytes32 digest, bool slashed) = handler.promiseKept(i);
            if (kept) vm.assertFalse(registry.isSlashed(digest), "a kept promise was slashed");
            vm.assertEq(registry.isSlashed(digest), slashed, "slashed exactly when the handler slashed it");
        }
        vm.assertEq(handler.keptSlashed(), 0, "a kept promise was slashed");
    }

    /// @dev A broken promise can always be slashed inside the window, and nothing else can.
    function invariant_brokenPromisesAreSlashable() public view {
        vm.assertEq(handler.brokenNotSlashed(), 0, "a broken promise could not be slashed in time");
        vm.assertEq(handler.unexpectedSlashes(), 0, "a slash the handler did not predict");
        vm.assertEq(handler.forgedSlashes(), 0, "a forged signature slashed");
        vm.assertEq(handler.wrongBatchSlashes(), 0, "a batch other than the posted one slashed");
        vm.assertEq(handler.strangerPosts(), 0, "a stranger posted a batch");
    }

    /// @dev No promise digest and no reported slot pays twice; every predicted miss was reported.
    function invariant_nothingPaysTwice() public view {
        vm.assertEq(handler.doubleSlashes(), 0, "a digest paid twice");
        vm.assertEq(handler.doubleReports(), 0, "a slot reported twice");
        vm.assertEq(handler.missNotReported(), 0, "a missed slot could not be reported");
        vm.assertEq(handler.unexpectedReports(), 0, "a report the handler did not predict");
    }

    /// @dev Nothing included after anchor(W) changes `sequencerAt` for any slot of W: every answer
    ///      recorded at W's anchor still holds while W is inside the slashing window.
    function invariant_sequencerAtFixedOnceAnchored() public view {
        uint64 current = registry.currentWindow();
        uint64 from = current > 31 ? current - 31 : 0;
        if (from < handler.firstWindow()) from = handler.firstWindow();
        for (uint64 window = from; window <= current + 1; ++window) {
            for (uint64 j; j < 2; ++j) {
                uint64 slot = handler.sampleSlot(window, j);
                (bool recorded, address operator, uint256 index) = handler.recordedAnswer(slot);
                if (!recorded) continue;
                (address nowOperator, uint256 nowIndex) = registry.sequencerAt(ROLLUP, slot);
                vm.assertEq(nowIndex, index, "index of an anchored slot changed");
                vm.assertEq(nowOperator, operator, "operator of an anchored slot changed");
            }
        }
    }

    /// @dev The inbox and the registry agree on which slots were posted: a reported slot is `Missed`.
    function invariant_reportedSlotsAreMissed() public view {
        uint64 current = registry.currentSlot();
        for (uint64 back; back < 64 && back <= current; ++back) {
            uint64 slot = current - back;
            if (!registry.isReported(ROLLUP, slot)) continue;
            (IRollupInbox.BatchStatus status,) = inbox.batchOf(slot);
            vm.assertEq(uint256(status), uint256(IRollupInbox.BatchStatus.Missed), "reported, so missed");
        }
    }
}


// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {SequencerRegistry} from "../src/SequencerRegistry.sol";
import {Test} from "./utils/Test.sol";

/// @dev An operator account that, when paid, tries to withdraw the same bond again.
contract ReentrantOperator {
    SequencerRegistry internal immutable registry;
    uint256 internal reenterChainId;
    uint256 internal reenterIndex;
    bool internal armed;
    /// Withdrawals that succeeded from inside the refund: must stay 0.
    uint256 public reentrantWithdrawals;

    constructor(SequencerRegistry registry_) {
        registry = registry_;
    }

    function register(uint256 chainId, address signer, bytes calldata proof) external payable returns (uint256) {
        return registry.register{value: msg.value}(chainId, signer, "http://127.0.0.1:1", proof);
    }

    function requestExit(uint256 chainId, uint256 index) external {
        registry.requestExit(chainId, index);
    }

    function updateEndpoint(uint256 chainId, uint256 index) external {
        registry.updateEndpoint(chainId, index, "http://127.0.0.1:2");
    }

    function withdraw(uint256 chainId, uint256 index) external {
        (reenterChainId, reenterIndex, armed) = (chainId, index, true);
        registry.withdraw(chainId, index);
        armed = false;
    }

    receive() external payable {
        if (!armed) return;
        armed = false;
        try registry.withdraw(reenterChainId, reenterIndex) {
            reentrantWithdrawals += 1;
        } catch {}
    }
}

/// @dev Drives the registry through random registrations (some reusing freed indices, some naming
///      another signer key with its consent), endpoint updates, exits, withdrawals, admin handovers
///      and time (up to 40 windows at once, so that bonds become withdrawable within a run).
///
///      Schedule snapshots: the first time the handler sees window C (before any action in it), it
///      records the selection of sampled slots of windows C, C+1 and C+2 that were not recorded
///      yet. Those windows' anchors lie at or before the start of window C, so nothing the handler
///      does from then on may change these answers (SPEC §4).
///
///      `setUp` leaves each rollup with one freed index and one record whose bond can be withdrawn
///      at once, so every run exercises withdrawal and index reuse (asserted by `afterInvariant`).
contract Handler is Test {
    enum Kind {
        Live,
        Exitable,
        Withdrawable
    }

    struct Answer {
        bool recorded;
        address operator;
        uint256 index;
    }

    uint256 internal constant MAX_BOND = 10 ether;
    uint64 internal constant WINDOW_SLOTS = 32;
    uint256 internal constant WINDOW_SECONDS = 32 * 12;
    /// Slots sampled per window for the schedule snapshots.
    uint64 internal constant SAMPLES = 8;
    uint256[2] internal chainIds = [uint256(10), 20];
    address[3] internal admins = [address(0xAD01), address(0xAD02), address(0xAD03)];

    SequencerRegistry public immutable registry;
    ReentrantOperator[] public operators;
    /// Bonds paid in minus bonds paid out.
    uint256 public ghostBonds;
    /// Second withdrawals of one record that succeeded: must stay 0.
    uint256 public doubleWithdrawals;
    /// Freed indices not reused yet, per rollup.
    mapping(uint256 chainId => uint256) public ghostFree;

    // Calls that succeeded, per action.
    uint256 public registers;
    uint256 public reuses;
    uint256 public signerProofs;
    uint256 public exits;
    uint256 public withdrawals;
    uint256 public endpointUpdates;
    uint256 public adminTransfers;
    uint256 public minBondUpdates;
    // Things that must never happen: must stay 0.
    uint256 public freeIndexMismatches;
    uint256 public acceptedBadProofs;
    uint256 public strangerAccepts;
    /// Windows whose schedule snapshots were taken.
    uint256 public windowsObserved;

    mapping(uint64 window => bool) internal seen;
    mapping(uint256 chainId => mapping(uint64 slot => Answer)) internal answers;

    /// @dev Stages the state every run starts from: four operators register on both rollups in
    ///      window 0; operators 0 and 1 exit at once (active until window 3). At window 36 their
    ///      bonds are withdrawable; operator 0 withdraws, freeing index 0 of each rollup, and
    ///      operator 1's records are left to withdraw. Operators 2 and 3 stay active.
    constructor(SequencerRegistry registry_) {
        registry = registry_;
        for (uint256 i; i < 4; ++i) {
            operators.push(new ReentrantOperator(registry_));
        }
        vm.deal(address(this), 8 ether);
        for (uint256 c; c < 2; ++c) {
            for (uint256 i; i < 4; ++i) {
                operators[i].register{value: 1 ether}(chainIds[c], address(operators[i]), "");
                if (i < 2) operators[i].requestExit(chainIds[c], i);
            }
        }
        ghostBonds = 8 ether;
        vm.warp(block.timestamp + 36 * WINDOW_SECONDS);
        for (uint256 c; c < 2; ++c) {
            operators[0].withdraw(chainIds[c], 0);
            ghostFree[chainIds[c]] = 1;
        }
        ghostBonds -= 2 ether;
        observe();
    }

    modifier observed() {
        observe();
        _;
    }

    // -------------------------------------------------------------------------------- actions

    function register(uint256 operatorSeed, uint256 chainSeed, uint256 bond, uint256 signerSeed) external observed {
        uint256 chainId = chainIds[chainSeed % 2];
        uint256 other = chainIds[1 - chainSeed % 2];
        // Prefer a rollup with a freed index, so that reuse happens often.
        if (ghostFree[chainId] == 0 && ghostFree[other] != 0) (chainId, other) = (other, chainId);
        // Mostly at least the minimum bond; sometimes anything (BondTooLow).
        (, uint256 minBond,) = registry.rollup(chainId);
        bond = bond % 8 == 0 ? bound(bond, 0, MAX_BOND) : bound(bond, minBond, MAX_BOND);
        ReentrantOperator account = operator(operatorSeed);

        address signer = address(account);
        bytes memory proof;
        bool badProof;
        if (signerSeed % 2 == 1) {
            uint256 key = bound(signerSeed, 1, type(uint64).max);
            signer = vm.addr(key);
            // One time in four the consent names the other rollup: it must be refused.
            badProof = signerSeed % 8 == 7;
            bytes32 digest = registry.signerConsentDigest(badProof ? other : chainId, address(account));
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
            proof = abi.encodePacked(r, s, v);
        }

        (,, uint256 lengthBefore) = registry.rollup(chainId);
        vm.deal(address(this), bond);
        try account.register{value: bond}(chainId, signer, proof) returns (uint256 index) {
            ghostBonds += bond;
            ++registers;
            if (signer != address(account)) ++signerProofs;
            if (badProof) ++acceptedBadProofs;
            if (index < lengthBefore) {
                ++reuses;
                if (ghostFree[chainId] == 0) ++freeIndexMismatches;
                else --ghostFree[chainId];
            } else if (ghostFree[chainId] != 0) {
                ++freeIndexMismatches;
            }
        } catch {}
    }

    function updateEndpoint(uint256 operatorSeed, uint256 chainSeed, uint256 indexSeed) external observed {
        (uint256 chainId, uint256 index, ReentrantOperator account) =
            target(operatorSeed, chainSeed, indexSeed, Kind.Live);
        try account.updateEndpoint(chainId, index) {
            ++endpointUpdates;
        } catch {}
    }

    function requestExit(uint256 operatorSeed, uint256 chainSeed, uint256 indexSeed) external observed {
        (uint256 chainId, uint256 index, ReentrantOperator account) =
            target(operatorSeed, chainSeed, indexSeed, Kind.Exitable);
        try account.requestExit(chainId, index) {
            ++exits;
        } catch {}
    }

    function withdraw(uint256 operatorSeed, uint256 chainSeed, uint256 indexSeed) external observed {
        (uint256 chainId, uint256 index, ReentrantOperator account) =
            target(operatorSeed, chainSeed, indexSeed, Kind.Withdrawable);
        uint256 before = address(account).balance;
        try account.withdraw(chainId, index) {
            ghostBonds -= address(account).balance - before;
            ++withdrawals;
            ++ghostFree[chainId];
            try account.withdraw(chainId, index) {
                doubleWithdrawals += 1;
            } catch {}
        } catch {}
    }

    /// @dev Hands a rollup's admin role on (accepted by the new admin), or lets a stranger try to
    ///      accept an offer, or withdraws the offer; then the admin of the moment may change `minBond`.
    function transferAdmin(uint256 chainSeed, uint256 adminSeed, uint256 minBond) external observed {
        uint256 chainId = chainIds[chainSeed % 2];
        (address current,,) = registry.rollup(chainId);
        address next = admins[adminSeed % 3];
        vm.prank(current);
        registry.transferAdmin(chainId, (adminSeed >> 8) % 4 == 0 ? address(0) : next);
        address acceptor = (adminSeed >> 8) % 4 == 1 ? address(uint160(next) + 0x100) : next;
        vm.prank(acceptor);
        try registry.acceptAdmin(chainId) {
            if (acceptor == next) ++adminTransfers;
            else ++strangerAccepts;
        } catch {}

        (current,,) = registry.rollup(chainId);
        vm.prank(current);
        try registry.setMinBond(chainId, bound(minBond, 0, 2 ether)) {
            ++minBondUpdates;
        } catch {}
    }

    /// @dev Half the time within two windows, half the time up to 40 windows (past the
    ///      withdrawal delay); snapshots the schedule of a newly reached window at once.
    function advanceTime(uint256 secondsAhead) external observed {
        uint256 max = secondsAhead % 2 == 0 ? 2 * WINDOW_SECONDS : 40 * WINDOW_SECONDS;
        vm.warp(block.timestamp + bound(secondsAhead >> 1, 0, max));
        observe();
    }

    // ------------------------------------------------------------------------------ snapshots

    /// @dev Records, the first time window C is seen, the selection of the sampled slots of
    ///      windows C..C+2 that have no record yet.
    function observe() internal {
        uint64 current = registry.currentWindow();
        if (seen[current]) return;
        seen[current] = true;
        ++windowsObserved;
        for (uint64 window = current; window <= current + 2; ++window) {
            for (uint256 c; c < 2; ++c) {
                for (uint64 j; j < SAMPLES; ++j) {
                    uint64 slot = sampleSlot(window, j);
                    Answer storage answer = answers[chainIds[c]][slot];
                    if (answer.recorded) continue;
                    (address op, uint256 index) = registry.sequencerForSeed(chainIds[c], slot, seedOf(window));
                    (answer.recorded, answer.operator, answer.index) = (true, op, index);
                }
            }
        }
    }

    function sampleSlot(uint64 window, uint64 j) public pure returns (uint64) {
        return window * WINDOW_SLOTS + j * (WINDOW_SLOTS / SAMPLES) + window % (WINDOW_SLOTS / SAMPLES);
    }

    function seedOf(uint64 window) public pure returns (bytes32) {
        return keccak256(abi.encode("window seed", window));
    }

    function recordedAnswer(uint256 chainId, uint64 slot)
        external
        view
        returns (bool recorded, address op, uint256 index)
    {
        Answer storage a = answers[chainId][slot];
        return (a.recorded, a.operator, a.index);
    }

    // -------------------------------------------------------------------------------- helpers

    /// @dev A record to act on and the account to act with. Seven times in eight: the first record
    ///      of `kind` from a random index on, trying the other rollup when one has none, with its
    ///      own operator. Otherwise (or if none is found) a random index and operator, which the
    ///      registry will mostly refuse.
    function target(uint256 operatorSeed, uint256 chainSeed, uint256 indexSeed, Kind kind)
        internal
        view
        returns (uint256 chainId, uint256 index, ReentrantOperator account)
    {
        if (operatorSeed % 8 != 0) {
            uint64 current = registry.currentWindow();
            for (uint256 c; c < 2; ++c) {
                chainId = chainIds[(chainSeed % 2 + c) % 2];
                (,, uint256 count) = registry.rollup(chainId);
                for (uint256 k; k < count; ++k) {
                    index = (indexSeed % count + k) % count;
                    SequencerRegistry.Sequencer memory record = registry.getSequencer(chainId, index);
                    if (matches(record, kind, current)) {
                        return (chainId, index, ReentrantOperator(payable(record.operator)));
                    }
                }
            }
        }
        chainId = chainIds[chainSeed % 2];
        (,, uint256 length) = registry.rollup(chainId);
        index = length == 0 ? 0 : indexSeed % length;
        account = operator(operatorSeed);
    }

    function matches(SequencerRegistry.Sequencer memory record, Kind kind, uint64 current)
        internal
        pure
        returns (bool)
    {
        if (record.withdrawn) return false;
        if (kind == Kind.Live) return true;
        if (kind == Kind.Exitable) return record.activeUntil == 0;
        return record.activeUntil != 0 && current >= uint256(record.activeUntil) + 32;
    }

    function operator(uint256 seed) internal view returns (ReentrantOperator) {
        return operators[seed % operators.length];
    }

    function chainIdAt(uint256 i) external view returns (uint256) {
        return chainIds[i];
    }

    function operatorCount() external view returns (uint256) {
        return operators.length;
    }
}

contract RegistryInvariantTest is Test {
    uint64 internal constant GENESIS = 1_700_000_000;
    uint64 internal constant WINDOW_SLOTS = 32;

    SequencerRegistry internal registry;
    Handler internal handler;

    event log_named_uint(string key, uint256 val);

    function setUp() public {
        vm.warp(GENESIS);
        registry = new SequencerRegistry(GENESIS, 12, WINDOW_SLOTS);
        registry.registerRollup(10, address(0xAD01), 1 ether);
        registry.registerRollup(20, address(0xAD01), 0);
        handler = new Handler(registry);
    }

    /// @dev forge's invariant runner calls only the handler.
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @dev After each run: the run really withdrew a bond and reused a freed index.
    function afterInvariant() public {
        emit log_named_uint("registers", handler.registers());
        emit log_named_uint("reuses", handler.reuses());
        emit log_named_uint("signerProofs", handler.signerProofs());
        emit log_named_uint("exits", handler.exits());
        emit log_named_uint("withdrawals", handler.withdrawals());
        emit log_named_uint("endpointUpdates", handler.endpointUpdates());
        emit log_named_uint("adminTransfers", handler.adminTransfers());
        emit log_named_uint("minBondUpdates", handler.minBondUpdates());
        emit log_named_uint("windowsObserved", handler.windowsObserved());
        vm.assertGt(handler.withdrawals(), 0, "a withdrawal succeeded in the run");
        vm.assertGt(handler.reuses(), 0, "a freed index was reused in the run");
    }

    /// @dev SPEC §4: nothing included after anchor(W) changes the schedule of W. Every answer the
    ///      handler recorded for a window that has not passed yet still holds.
    function invariant_scheduleFixedOnceAnchored() public view {
        uint64 current = registry.currentWindow();
        for (uint64 window = current; window <= current + 2; ++window) {
            for (uint256 c; c < 2; ++c) {
                uint256 chainId = handler.chainIdAt(c);
                for (uint64 j; j < 8; ++j) {
                    uint64 slot = handler.sampleSlot(window, j);
                    (bool recorded, address op, uint256 index) = handler.recordedAnswer(chainId, slot);
                    if (!recorded) continue;
                    (address nowOp, uint256 nowIndex) = registry.sequencerForSeed(chainId, slot, handler.seedOf(window));
                    vm.assertEq(nowIndex, index, "index of a fixed slot changed");
                    vm.assertEq(nowOp, op, "operator of a fixed slot changed");
                }
            }
        }
    }

    function invariant_balanceEqualsBondsNotWithdrawn() public view {
        uint256 recorded;
        for (uint256 c; c < 2; ++c) {
            uint256 chainId = handler.chainIdAt(c);
            (,, uint256 count) = registry.rollup(chainId);
            for (uint256 i; i < count; ++i) {
                recorded += registry.getSequencer(chainId, i).bond;
            }
        }
        vm.assertEq(address(registry).balance, handler.ghostBonds(), "balance == bonds in - bonds out");
        vm.assertEq(address(registry).balance, recorded, "balance == sum of recorded bonds");
    }

    function invariant_selectionOnlyPicksActiveRecords() public view {
        uint64 current = registry.currentWindow();
        for (uint256 c; c < 2; ++c) {
            uint256 chainId = handler.chainIdAt(c);
            for (uint64 window = current; window < current + 5; ++window) {
                uint64 slot = window * WINDOW_SLOTS + uint64(uint256(keccak256(abi.encode(window))) % WINDOW_SLOTS);
                (address operator, uint256 index) =
                    registry.sequencerForSeed(chainId, slot, keccak256(abi.encode(chainId, slot)));
                if (index == type(uint256).max) {
                    vm.assertEq(operator, address(0), "no index, no operator");
                    vm.assertFalse(anyActive(chainId, window), "none selected only when none is active");
                } else {
                    SequencerRegistry.Sequencer memory record = registry.getSequencer(chainId, index);
                    vm.assertTrue(index < registry.sequencerCountAt(chainId, window), "selected index exists in W");
                    vm.assertEq(operator, record.operator, "operator of the selected record");
                    vm.assertTrue(record.activeFrom <= window, "selected at or after activeFrom");
                    vm.assertTrue(record.activeUntil == 0 || window < record.activeUntil, "selected before activeUntil");
                }
            }
        }
    }

    function invariant_withdrawnRecordsAreNeverActiveAgain() public view {
        uint64 current = registry.currentWindow();
        for (uint256 c; c < 2; ++c) {
            uint256 chainId = handler.chainIdAt(c);
            (,, uint256 count) = registry.rollup(chainId);
            for (uint256 i; i < count; ++i) {
                if (!registry.getSequencer(chainId, i).withdrawn) continue;
                vm.assertEq(registry.getSequencer(chainId, i).bond, 0, "withdrawn record holds no bond");
                for (uint64 window = current; window < current + 5; ++window) {
                    vm.assertFalse(registry.isActive(chainId, i, window), "withdrawn record inactive");
                }
            }
        }
    }

    function invariant_noBondIsWithdrawnTwice() public view {
        vm.assertEq(handler.doubleWithdrawals(), 0, "second withdrawal succeeded");
        for (uint256 i; i < handler.operatorCount(); ++i) {
            vm.assertEq(handler.operators(i).reentrantWithdrawals(), 0, "withdrawal re-entered");
        }
    }

    /// @dev `existsFrom` never decreases along the array and never follows `activeFrom`; the
    ///      registry reuses a freed index exactly when one is free; no consent for another rollup
    ///      and no stranger's acceptance of the admin role ever succeeded.
    function invariant_arrayAsOfWindowIsAPrefix() public view {
        for (uint256 c; c < 2; ++c) {
            uint256 chainId = handler.chainIdAt(c);
            (,, uint256 count) = registry.rollup(chainId);
            uint256 previous;
            for (uint256 i; i < count; ++i) {
                SequencerRegistry.Sequencer memory record = registry.getSequencer(chainId, i);
                vm.assertLe(previous, record.existsFrom, "existsFrom non-decreasing along the array");
                vm.assertLe(record.existsFrom, record.activeFrom, "an index exists before its record is active");
                previous = record.existsFrom;
            }
        }
        vm.assertEq(handler.freeIndexMismatches(), 0, "reuse exactly when an index is free");
        vm.assertEq(handler.acceptedBadProofs(), 0, "consent for another rollup accepted");
        vm.assertEq(handler.strangerAccepts(), 0, "a stranger accepted the admin role");
    }

    function anyActive(uint256 chainId, uint64 window) internal view returns (bool) {
        (,, uint256 count) = registry.rollup(chainId);
        for (uint256 i; i < count; ++i) {
            if (registry.isActive(chainId, i, window)) return true;
        }
        return false;
    }
}

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

    function register(uint256 chainId) external payable returns (uint256) {
        return registry.register{value: msg.value}(chainId, address(this), "http://127.0.0.1:1");
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

/// @dev Drives the registry through random registrations, updates, exits, withdrawals and time.
contract Handler is Test {
    uint256 internal constant MAX_BOND = 10 ether;
    uint256[2] internal chainIds = [uint256(10), 20];

    SequencerRegistry public immutable registry;
    ReentrantOperator[] public operators;
    /// Bonds paid in minus bonds paid out.
    uint256 public ghostBonds;
    /// Second withdrawals of one record that succeeded: must stay 0.
    uint256 public doubleWithdrawals;

    constructor(SequencerRegistry registry_) {
        registry = registry_;
        for (uint256 i; i < 4; ++i) {
            operators.push(new ReentrantOperator(registry_));
        }
    }

    function chainIdAt(uint256 i) external view returns (uint256) {
        return chainIds[i];
    }

    function register(uint256 operatorSeed, uint256 chainSeed, uint256 bond) external {
        bond = bound(bond, 0, MAX_BOND);
        vm.deal(address(this), bond);
        try operator(operatorSeed).register{value: bond}(chainIds[chainSeed % 2]) {
            ghostBonds += bond;
        } catch {}
    }

    function updateEndpoint(uint256 operatorSeed, uint256 chainSeed, uint256 indexSeed) external {
        (uint256 chainId, uint256 index) = pick(chainSeed, indexSeed);
        try operator(operatorSeed).updateEndpoint(chainId, index) {} catch {}
    }

    function requestExit(uint256 operatorSeed, uint256 chainSeed, uint256 indexSeed) external {
        (uint256 chainId, uint256 index) = pick(chainSeed, indexSeed);
        try operator(operatorSeed).requestExit(chainId, index) {} catch {}
    }

    function withdraw(uint256 operatorSeed, uint256 chainSeed, uint256 indexSeed) external {
        (uint256 chainId, uint256 index) = pick(chainSeed, indexSeed);
        ReentrantOperator account = operator(operatorSeed);
        uint256 before = address(account).balance;
        try account.withdraw(chainId, index) {
            ghostBonds -= address(account).balance - before;
            try account.withdraw(chainId, index) {
                doubleWithdrawals += 1;
            } catch {}
        } catch {}
    }

    function advanceTime(uint256 secondsAhead) external {
        vm.warp(block.timestamp + bound(secondsAhead, 0, 3 * 32 * 12));
    }

    function operator(uint256 seed) internal view returns (ReentrantOperator) {
        return operators[seed % operators.length];
    }

    function pick(uint256 chainSeed, uint256 indexSeed) internal view returns (uint256 chainId, uint256 index) {
        chainId = chainIds[chainSeed % 2];
        (,, uint256 count) = registry.rollup(chainId);
        index = count == 0 ? 0 : indexSeed % count;
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

    function setUp() public {
        vm.warp(GENESIS);
        registry = new SequencerRegistry(GENESIS, 12, WINDOW_SLOTS);
        registry.registerRollup(10, address(this), 1 ether);
        registry.registerRollup(20, address(this), 0);
        handler = new Handler(registry);
    }

    /// @dev forge's invariant runner calls only the handler.
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
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

    function anyActive(uint256 chainId, uint64 window) internal view returns (bool) {
        (,, uint256 count) = registry.rollup(chainId);
        for (uint256 i; i < count; ++i) {
            if (registry.isActive(chainId, i, window)) return true;
        }
        return false;
    }
}

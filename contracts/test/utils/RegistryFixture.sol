// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {SequencerRegistry} from "../../src/SequencerRegistry.sol";
import {Test} from "./Test.sol";

/// @notice A registry on mainnet-like timing (12 s slots, 32-slot windows) and helpers to move
///         through windows and register sequencers.
abstract contract RegistryFixture is Test {
    uint64 internal constant GENESIS = 1_700_000_000;
    uint64 internal constant SLOT_SECONDS = 12;
    uint64 internal constant WINDOW_SLOTS = 32;
    uint256 internal constant ROLLUP = 10;
    uint256 internal constant MIN_BOND = 1 ether;
    string internal constant URL = "http://127.0.0.1:9545";

    address internal admin = address(0xAD);
    address internal alice = address(0xA11CE);
    address internal bob = address(0xB0B);

    SequencerRegistry internal registry;

    function setUp() public virtual {
        vm.warp(GENESIS);
        registry = new SequencerRegistry(GENESIS, SLOT_SECONDS, WINDOW_SLOTS);
        registry.registerRollup(ROLLUP, admin, MIN_BOND);
        vm.deal(alice, 1_000 ether);
        vm.deal(bob, 1_000 ether);
    }

    /// @dev Moves the clock to the first second of `window`.
    function warpToWindow(uint256 window) internal {
        vm.warp(GENESIS + window * WINDOW_SLOTS * SLOT_SECONDS);
    }

    /// @dev Registers `operator` on `chainId` with the minimum bond; the signer is derived from it.
    function registerAs(address operator, uint256 chainId) internal returns (uint256 index) {
        vm.prank(operator);
        index = registry.register{value: MIN_BOND}(chainId, signerOf(operator), URL);
    }

    function signerOf(address operator) internal pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encode("signer", operator)))));
    }

    function activeFrom(uint256 chainId, uint256 index) internal view returns (uint256) {
        return registry.getSequencer(chainId, index).activeFrom;
    }

    function activeUntil(uint256 chainId, uint256 index) internal view returns (uint256) {
        return registry.getSequencer(chainId, index).activeUntil;
    }
}

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
    /// @dev SPEC §4: windows between `activeUntil` and the first window a bond can be withdrawn.
    uint64 internal constant WITHDRAWAL_DELAY = 32;
    uint256 internal constant ROLLUP = 10;
    uint256 internal constant MIN_BOND = 1 ether;
    string internal constant URL = "http://127.0.0.1:9545";
    /// @dev The order of the secp256k1 group.
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

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

    /// @dev Registers `operator` on `chainId` with the minimum bond and a signer key of its own
    ///      (`signerOf(operator)`), proven by that key's consent signature.
    function registerAs(address operator, uint256 chainId) internal returns (uint256 index) {
        bytes memory proof = consent(signerKeyOf(operator), chainId, operator);
        vm.prank(operator);
        index = registry.register{value: MIN_BOND}(chainId, signerOf(operator), URL, proof);
    }

    /// @dev The private key of `operator`'s signer: never the operator's own key.
    function signerKeyOf(address operator) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode("signer", operator))) % (SECP256K1_N - 1) + 1;
    }

    function signerOf(address operator) internal pure returns (address) {
        return vm.addr(signerKeyOf(operator));
    }

    /// @dev SPEC §7 written out: the EIP-712 domain separator of `verifyingContract` on L1 chain
    ///      `l1ChainId`.
    function domainOf(uint256 l1ChainId, address verifyingContract) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("SequencerLookahead"),
                keccak256("2"),
                l1ChainId,
                verifyingContract
            )
        );
    }

    /// @dev SPEC §7 written out: the EIP-712 digest of `SignerConsent(chainId, operator)` in the
    ///      domain of `verifyingContract` on L1 chain `l1ChainId`.
    function consentDigest(uint256 l1ChainId, address verifyingContract, uint256 chainId, address operator)
        internal
        pure
        returns (bytes32)
    {
        bytes32 domain = domainOf(l1ChainId, verifyingContract);
        bytes32 structHash =
            keccak256(abi.encode(keccak256("SignerConsent(uint256 chainId,address operator)"), chainId, operator));
        return keccak256(abi.encodePacked(hex"1901", domain, structHash));
    }

    /// @dev The digest this registry, on this L1, expects for `operator` on rollup `chainId`.
    function consentDigest(uint256 chainId, address operator) internal view returns (bytes32) {
        return consentDigest(block.chainid, address(registry), chainId, operator);
    }

    /// @dev `key`'s 65-byte consent (r || s || v) for `operator` on rollup `chainId`.
    function consent(uint256 key, uint256 chainId, address operator) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, consentDigest(chainId, operator));
        return abi.encodePacked(r, s, v);
    }

    function activeFrom(uint256 chainId, uint256 index) internal view returns (uint256) {
        return registry.getSequencer(chainId, index).activeFrom;
    }

    function activeUntil(uint256 chainId, uint256 index) internal view returns (uint256) {
        return registry.getSequencer(chainId, index).activeUntil;
    }

    function existsFrom(uint256 chainId, uint256 index) internal view returns (uint256) {
        return registry.getSequencer(chainId, index).existsFrom;
    }
}

// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {SequencerRegistry} from "../src/SequencerRegistry.sol";
import {RegistryFixture} from "./utils/RegistryFixture.sol";

/// @notice SPEC §4 and §7: a registration that names a signer other than the operator carries the
///         signer's 65-byte, low-s EIP-712 consent to `SignerConsent(chainId, operator)`.
contract SignerConsentTest is RegistryFixture {
    uint256 internal constant OTHER_ROLLUP = 11;
    uint256 internal constant KEY = 0xC0FFEE;
    uint256 internal constant OTHER_KEY = 0xBEEF;

    address internal signer;

    function setUp() public override {
        super.setUp();
        registry.registerRollup(OTHER_ROLLUP, admin, MIN_BOND);
        signer = vm.addr(KEY);
    }

    function signature(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev What `ecrecover` makes of a 65-byte `r || s || v` signature over `digest`.
    function recovered(bytes32 digest, bytes memory proof) internal pure returns (address) {
        (bytes32 r, bytes32 s) = abi.decode(proof, (bytes32, bytes32));
        return ecrecover(digest, uint8(proof[64]), r, s);
    }

    function register(address signer_, bytes memory proof) internal returns (uint256) {
        vm.prank(alice);
        return registry.register{value: MIN_BOND}(ROLLUP, signer_, URL, proof);
    }

    function expectInvalid(address recoveredSigner) internal {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.InvalidSignerProof.selector, signer, recoveredSigner));
    }

    // ---------------------------------------------------------------------------- the digest

    function test_signerConsentDigest_isEip712OfSpec() public view {
        vm.assertEq(
            registry.SIGNER_CONSENT_TYPEHASH(),
            keccak256("SignerConsent(uint256 chainId,address operator)"),
            "SignerConsent typehash"
        );
        vm.assertEq(registry.domainSeparator(), domainOf(block.chainid, address(registry)), "domain separator");
        vm.assertEq(registry.signerConsentDigest(ROLLUP, alice), consentDigest(ROLLUP, alice), "consent digest");
    }

    // ------------------------------------------------------------------------------ accepted

    function test_register_acceptsTheSignersConsent() public {
        bytes memory proof = signature(KEY, consentDigest(ROLLUP, alice));
        vm.expectEmit(address(registry));
        emit SequencerRegistry.SequencerRegistered(ROLLUP, 0, alice, signer, URL, 3, 3, MIN_BOND);
        uint256 index = register(signer, proof);
        SequencerRegistry.Sequencer memory record = registry.getSequencer(ROLLUP, index);
        vm.assertEq(record.operator, alice, "operator");
        vm.assertEq(record.signer, signer, "signer");
    }

    function test_register_acceptsVAsZeroOrOne() public {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(KEY, consentDigest(ROLLUP, alice));
        register(signer, abi.encodePacked(r, s, v - 27));
        vm.assertEq(registry.getSequencer(ROLLUP, 0).signer, signer, "signer");
    }

    function test_register_signerIsOperatorNeedsNoProof() public {
        register(alice, "");
        vm.assertEq(registry.getSequencer(ROLLUP, 0).signer, alice, "operator signs for itself");
    }

    function test_register_signerIsOperatorIgnoresTheProof() public {
        register(alice, hex"deadbeef");
        vm.assertEq(registry.getSequencer(ROLLUP, 0).signer, alice, "proof ignored");
    }

    // ------------------------------------------------------------------------------- refused

    function test_register_revertsWithoutProof() public {
        vm.expectRevert(abi.encodeWithSelector(SequencerRegistry.MissingSignerProof.selector, signer));
        register(signer, "");
    }

    function test_register_revertsForAnotherKeysProof() public {
        bytes memory proof = signature(OTHER_KEY, consentDigest(ROLLUP, alice));
        expectInvalid(vm.addr(OTHER_KEY));
        register(signer, proof);
    }

    function test_register_revertsForAProofForAnotherOperator() public {
        bytes memory proof = signature(KEY, consentDigest(ROLLUP, bob));
        address wrong = recovered(consentDigest(ROLLUP, alice), proof);
        vm.assertNotEq(wrong, signer, "recovers another address");
        expectInvalid(wrong);
        register(signer, proof);
    }

    function test_register_revertsForAProofForAnotherRollup() public {
        bytes memory proof = signature(KEY, consentDigest(OTHER_ROLLUP, alice));
        address wrong = recovered(consentDigest(ROLLUP, alice), proof);
        vm.assertNotEq(wrong, signer, "recovers another address");
        expectInvalid(wrong);
        register(signer, proof);
    }

    function test_register_revertsForAProofForAnotherRegistry() public {
        SequencerRegistry other = new SequencerRegistry(GENESIS, SLOT_SECONDS, WINDOW_SLOTS);
        bytes32 otherDigest = other.signerConsentDigest(ROLLUP, alice);
        vm.assertEq(otherDigest, consentDigest(block.chainid, address(other), ROLLUP, alice), "other domain");
        bytes memory proof = signature(KEY, otherDigest);
        address wrong = recovered(consentDigest(ROLLUP, alice), proof);
        vm.assertNotEq(wrong, signer, "recovers another address");
        expectInvalid(wrong);
        register(signer, proof);
    }

    function test_register_revertsForAProofForAnotherL1() public {
        vm.assertNotEq(block.chainid, 1, "test runs off mainnet");
        bytes memory proof = signature(KEY, consentDigest(1, address(registry), ROLLUP, alice));
        address wrong = recovered(consentDigest(ROLLUP, alice), proof);
        vm.assertNotEq(wrong, signer, "recovers another address");
        expectInvalid(wrong);
        register(signer, proof);
    }

    /// @dev After a fork that changes the L1 chain id, consents signed before are void there.
    function test_register_domainFollowsTheCurrentChainId() public {
        bytes32 before = registry.signerConsentDigest(ROLLUP, alice);
        bytes memory proof = signature(KEY, before);
        vm.chainId(block.chainid + 1);
        bytes32 afterFork = registry.signerConsentDigest(ROLLUP, alice);
        vm.assertNotEq(afterFork, before, "domain follows block.chainid");
        expectInvalid(recovered(afterFork, proof));
        register(signer, proof);
    }

    function test_register_revertsForA64ByteProof() public {
        (, bytes32 r, bytes32 s) = vm.sign(KEY, consentDigest(ROLLUP, alice));
        expectInvalid(address(0));
        register(signer, abi.encodePacked(r, s));
    }

    function test_register_revertsForA66ByteProof() public {
        bytes memory proof = abi.encodePacked(signature(KEY, consentDigest(ROLLUP, alice)), bytes1(0));
        expectInvalid(address(0));
        register(signer, proof);
    }

    function test_register_revertsForAHighSProof() public {
        bytes32 digest = consentDigest(ROLLUP, alice);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(KEY, digest);
        vm.assertLe(uint256(s), SECP256K1_N / 2, "forge signs with low s");
        bytes32 highS = bytes32(SECP256K1_N - uint256(s));
        uint8 flippedV = v == 27 ? 28 : 27;
        vm.assertEq(ecrecover(digest, flippedV, r, highS), signer, "the malleated signature is the signer's too");
        expectInvalid(address(0));
        register(signer, abi.encodePacked(r, highS, flippedV));
    }

    function test_register_revertsForAnInvalidV() public {
        (, bytes32 r, bytes32 s) = vm.sign(KEY, consentDigest(ROLLUP, alice));
        expectInvalid(address(0));
        register(signer, abi.encodePacked(r, s, uint8(29)));
    }

    function testFuzz_register_refusesAnyOtherKey(uint256 key) public {
        key = bound(key, 1, SECP256K1_N - 1);
        vm.assume(key != KEY);
        bytes memory proof = signature(key, consentDigest(ROLLUP, alice));
        expectInvalid(vm.addr(key));
        register(signer, proof);
    }
}

// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {SequencerRegistry} from "../src/SequencerRegistry.sol";
import {SlotInbox} from "../src/SlotInbox.sol";
import {AccountabilityFixture} from "./utils/AccountabilityFixture.sol";

/// @notice The SPEC §7 promise vector shared with the Rust crate (test/fixtures/promise-vector.json,
///         tests/promise_vector.rs): the registry's code runs at the vector's address on the
///         vector's L1 chain id and must produce its domain separator and digest, and accept its
///         signature — down to slashing the promise when its slot is missed.
contract PromiseVectorTest is AccountabilityFixture {
    string internal json;
    uint256 internal l1ChainId;
    address internal signer;
    uint256 internal key;
    SequencerRegistry.Preconfirmation internal vectorPromise;
    bytes internal signature;

    function setUp() public override {
        super.setUp();
        json = vm.readFile("test/fixtures/promise-vector.json");
        l1ChainId = vm.parseJsonUint(json, ".l1ChainId");
        signer = vm.parseJsonAddress(json, ".signer");
        key = uint256(vm.parseJsonBytes32(json, ".privateKey"));
        vectorPromise = SequencerRegistry.Preconfirmation({
            chainId: vm.parseJsonUint(json, ".promise.chainId"),
            // forge-lint: disable-next-line(unsafe-typecast)
            slot: uint64(vm.parseJsonUint(json, ".promise.slot")),
            txHashes: vm.parseJsonBytes32Array(json, ".promise.txHashes"),
            bundleId: vm.parseJsonBytes32(json, ".promise.bundleId")
        });
        signature = vm.parseJsonBytes(json, ".signature");

        // The fixture's registry code (and timing), at the vector's address on the vector's L1.
        address at = vm.parseJsonAddress(json, ".registry");
        vm.etch(at, address(registry).code);
        registry = SequencerRegistry(at);
        vm.chainId(l1ChainId);
    }

    function expected(string memory field) internal view returns (bytes32) {
        return vm.parseJsonBytes32(json, string.concat(".", field));
    }

    function test_vector_keyIsTheSigner() public view {
        vm.assertEq(vm.addr(key), signer, "the private key's address");
    }

    function test_vector_domainSeparator() public view {
        vm.assertEq(registry.domainSeparator(), expected("domainSeparator"), "domainSeparator()");
    }

    function test_vector_structHashAndDigest() public view {
        bytes32 structHash = keccak256(
            abi.encode(
                registry.PRECONFIRMATION_TYPEHASH(),
                vectorPromise.chainId,
                vectorPromise.slot,
                keccak256(abi.encodePacked(vectorPromise.txHashes)),
                vectorPromise.bundleId
            )
        );
        vm.assertEq(structHash, expected("structHash"), "struct hash");
        vm.assertEq(registry.promiseDigest(vectorPromise), expected("digest"), "promiseDigest()");
        vm.assertEq(promiseDigestOf(vectorPromise), expected("digest"), "the SPEC formula");
    }

    function test_vector_signature() public view {
        bytes memory sig = signature;
        vm.assertEq(sig.length, 65, "65 bytes");
        (bytes32 r, bytes32 s) = abi.decode(sig, (bytes32, bytes32));
        uint8 v = uint8(sig[64]);
        vm.assertLe(uint256(s), SECP256K1_N / 2, "low s (EIP-2)");
        vm.assertTrue(v == 27 || v == 28, "v is 27 or 28");
        vm.assertEq(ecrecover(expected("digest"), v, r, s), signer, "recovers to the signer");
        vm.assertEq(signDigest(key, expected("digest")), sig, "forge's RFC 6979 signature is the vector's");
    }

    function test_vector_otherL1HasAnotherDigest() public {
        vm.chainId(1);
        vm.assertNotEq(registry.promiseDigest(vectorPromise), expected("digest"), "the L1 chain id is signed");
    }

    /// @dev The whole path on-chain: the vector's signer is the rollup's only sequencer, its slot
    ///      is missed, and `slashPromise` accepts the vector's signature.
    function test_vector_slashesWhenTheSlotIsMissed() public {
        uint256 rollupId = vectorPromise.chainId;
        uint64 window = vectorPromise.slot / WINDOW_SLOTS;
        warpToWindow(window - 3);
        registry.registerRollup(rollupId, admin, MIN_BOND);
        SlotInbox vectorInbox = new SlotInbox(registry, rollupId, GRACE_SLOTS);
        vm.prank(admin);
        registry.setInbox(rollupId, address(vectorInbox));
        vm.deal(signer, MIN_BOND);
        vm.prank(signer);
        registry.register{value: MIN_BOND}(rollupId, signer, URL, "");

        warpToWindow(window);
        checkpoint(window);
        warpPastGrace(vectorPromise.slot);
        vm.expectEmit(address(registry));
        emit SequencerRegistry.Slashed(
            rollupId, 0, vectorPromise.slot, expected("digest"), MIN_BOND, carol, uint64(window) + 3
        );
        vm.prank(carol);
        vm.assertEq(registry.slashPromise(vectorPromise, signature, new bytes32[](0)), MIN_BOND, "slashed");
    }
}

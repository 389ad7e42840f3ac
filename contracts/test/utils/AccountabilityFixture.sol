// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {SequencerRegistry} from "../../src/SequencerRegistry.sol";
import {SlotInbox} from "../../src/SlotInbox.sol";
import {RegistryFixture} from "./RegistryFixture.sol";

/// @notice Block headers as an L1 node encodes them, mainnet-shaped (Prague: 21 fields). Only the
///         fields the registry reads vary; the rest are plausible constants.
library Headers {
    /// @dev `keccak256(rlp([]))`, the ommers hash of every post-merge block.
    bytes32 internal constant EMPTY_OMMERS = 0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347;

    /// @dev The RLP header of a block with these fields.
    function encode(bytes32 parentHash, uint256 number, uint256 timestamp, bytes32 mixHash)
        internal
        pure
        returns (bytes memory)
    {
        bytes memory roots = bytes.concat(
            item(abi.encodePacked(parentHash)),
            item(abi.encodePacked(EMPTY_OMMERS)),
            item(abi.encodePacked(address(0x95222290DD7278Aa3Ddd389Cc1E1d165CC4BAfe5))),
            item(abi.encodePacked(keccak256("stateRoot"))),
            item(abi.encodePacked(keccak256("transactionsRoot"))),
            item(abi.encodePacked(keccak256("receiptsRoot")))
        );
        bytes memory counters = bytes.concat(
            item(new bytes(256)), // logsBloom
            item(""), // difficulty 0
            integer(number),
            integer(36_000_000), // gasLimit
            integer(14_875_211), // gasUsed
            integer(timestamp)
        );
        bytes memory random = bytes.concat(
            item("beaverbuild.org"), // extraData
            item(abi.encodePacked(mixHash)),
            item(new bytes(8)), // nonce
            integer(1_234_567_890) // baseFeePerGas
        );
        bytes memory prague = bytes.concat(
            item(abi.encodePacked(keccak256("withdrawalsRoot"))),
            integer(393_216), // blobGasUsed
            integer(52_953_088), // excessBlobGas
            item(abi.encodePacked(keccak256("parentBeaconBlockRoot"))),
            item(abi.encodePacked(keccak256("requestsHash")))
        );
        return list(bytes.concat(roots, counters, random, prague));
    }

    /// @dev RLP of a byte string.
    function item(bytes memory payload) internal pure returns (bytes memory) {
        if (payload.length == 1 && uint8(payload[0]) < 0x80) return payload;
        return bytes.concat(prefix(0x80, payload.length), payload);
    }

    /// @dev RLP of an unsigned integer: its minimal big-endian bytes.
    function integer(uint256 value) internal pure returns (bytes memory) {
        return item(minimal(value));
    }

    /// @dev RLP of a list whose items, encoded, are `payload`.
    function list(bytes memory payload) internal pure returns (bytes memory) {
        return bytes.concat(prefix(0xc0, payload.length), payload);
    }

    function prefix(uint8 base, uint256 length) private pure returns (bytes memory) {
        // forge-lint: disable-next-line(unsafe-typecast)
        if (length <= 55) return abi.encodePacked(uint8(base + length));
        bytes memory lengthBytes = minimal(length);
        // forge-lint: disable-next-line(unsafe-typecast)
        return bytes.concat(abi.encodePacked(uint8(base + 55 + lengthBytes.length)), lengthBytes);
    }

    function minimal(uint256 value) private pure returns (bytes memory out) {
        uint256 length;
        for (uint256 v = value; v != 0; v >>= 8) {
            ++length;
        }
        out = new bytes(length);
        for (uint256 i; i < length; ++i) {
            // forge-lint: disable-next-line(unsafe-typecast)
            out[length - 1 - i] = bytes1(uint8(value >> (8 * i)));
        }
    }
}

/// @notice The registry of `RegistryFixture` with SPEC §8 around it: the rollup's `SlotInbox`
///         (4 grace slots) named while the rollup has no sequencer yet, so it judges every window;
///         anchor headers that prove a window's seed; promises signed as a sequencer signs them.
abstract contract AccountabilityFixture is RegistryFixture {
    uint64 internal constant GRACE_SLOTS = 4;
    uint256 internal constant NONE = type(uint256).max;
    /// @dev The block number the chain starts at: mainnet-sized numbers in the headers.
    uint256 internal constant FIRST_BLOCK = 22_000_000;

    SlotInbox internal inbox;
    address internal carol = address(0xCA201);

    function setUp() public virtual override {
        super.setUp();
        vm.roll(FIRST_BLOCK);
        inbox = new SlotInbox(registry, ROLLUP, GRACE_SLOTS);
        vm.prank(admin);
        registry.setInbox(ROLLUP, address(inbox));
        vm.deal(carol, 1_000 ether);
    }

    // ----------------------------------------------------------------------------------- time

    /// @dev Moves the clock to the first second of `slot`.
    function warpToSlot(uint64 slot) internal {
        vm.warp(GENESIS + uint256(slot) * SLOT_SECONDS);
    }

    /// @dev Moves the clock to the first slot at which `slot` is closed (`Missed` without a batch).
    function warpPastGrace(uint64 slot) internal {
        warpToSlot(slot + GRACE_SLOTS + 1);
    }

    function windowStart(uint64 window) internal pure returns (uint64) {
        return window * WINDOW_SLOTS;
    }

    // ---------------------------------------------------------------------------------- seeds

    /// @dev The prevrandao of the anchor of `window` in these tests.
    function randaoOf(uint64 window) internal pure returns (bytes32) {
        return keccak256(abi.encode("randao", window));
    }

    /// @dev The seed SPEC §3 derives for `window` from `randaoOf(window)`.
    function seedFor(uint64 window) internal pure returns (bytes32) {
        return keccak256(abi.encode(randaoOf(window), uint256(window)));
    }

    /// @dev Mines anchor(`window`) — the last block before window `window - 1` starts — and its
    ///      child, the first block of that window, as the two blocks after the current one, and
    ///      moves the chain one block past them so the child's hash is `blockhash`-provable.
    function mineAnchor(uint64 window, bytes32 randao) internal returns (bytes memory anchor, bytes memory next) {
        uint256 boundary = GENESIS + uint256(window - 1) * WINDOW_SLOTS * SLOT_SECONDS;
        uint256 number = block.number;
        anchor = Headers.encode(keccak256(abi.encode("parent", number)), number, boundary - SLOT_SECONDS, randao);
        next = Headers.encode(keccak256(anchor), number + 1, boundary, keccak256(abi.encode("next", randao)));
        vm.roll(number + 2);
        vm.setBlockhash(number, keccak256(anchor));
        vm.setBlockhash(number + 1, keccak256(next));
    }

    /// @dev Checkpoints the seed of `window` from freshly mined anchor headers.
    function checkpoint(uint64 window) internal returns (bytes32 seed) {
        (bytes memory anchor, bytes memory next) = mineAnchor(window, randaoOf(window));
        seed = registry.checkpointSeed(window, anchor, next);
    }

    // ------------------------------------------------------------------------------- promises

    function hashes(uint256 count, string memory tag) internal pure returns (bytes32[] memory out) {
        out = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            out[i] = keccak256(abi.encode(tag, i));
        }
    }

    function promiseFor(uint64 slot, bytes32[] memory txHashes, bytes32 bundleId)
        internal
        pure
        returns (SequencerRegistry.Preconfirmation memory)
    {
        return SequencerRegistry.Preconfirmation({chainId: ROLLUP, slot: slot, txHashes: txHashes, bundleId: bundleId});
    }

    /// @dev SPEC §7 written out: the EIP-712 digest of `p` in the domain of
    ///      `verifyingContract` on L1 chain `l1ChainId`.
    function promiseDigestOf(uint256 l1ChainId, address verifyingContract, SequencerRegistry.Preconfirmation memory p)
        internal
        pure
        returns (bytes32)
    {
        bytes32 domain = domainOf(l1ChainId, verifyingContract);
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Preconfirmation(uint256 chainId,uint64 slot,bytes32[] txHashes,bytes32 bundleId)"),
                p.chainId,
                p.slot,
                keccak256(abi.encodePacked(p.txHashes)),
                p.bundleId
            )
        );
        return keccak256(abi.encodePacked(hex"1901", domain, structHash));
    }

    /// @dev The digest this registry, on this L1, expects for `p`.
    function promiseDigestOf(SequencerRegistry.Preconfirmation memory p) internal view returns (bytes32) {
        return promiseDigestOf(block.chainid, address(registry), p);
    }

    /// @dev `key`'s 65-byte signature (r || s || v) over `digest`.
    function signDigest(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev `operator`'s signer's signature over `p`, as `preconf_confirm` returns it.
    function signPromise(address operator, SequencerRegistry.Preconfirmation memory p)
        internal
        view
        returns (bytes memory)
    {
        return signDigest(signerKeyOf(operator), promiseDigestOf(p));
    }

    // ---------------------------------------------------------------------------- sequencers

    /// @dev The operator `sequencerAt` selects for `slot` (address(0) for none).
    function selected(uint64 slot) internal view returns (address operator) {
        (operator,) = registry.sequencerAt(ROLLUP, slot);
    }

    /// @dev Posts `txHashes` as the batch of `slot` from `poster`, at the current time.
    function propose(address poster, uint64 slot, bytes32[] memory txHashes) internal {
        vm.prank(poster);
        inbox.propose(slot, txHashes, "", "");
    }

    function bondOf(uint256 index) internal view returns (uint256) {
        return registry.getSequencer(ROLLUP, index).bond;
    }
}

// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

/// @title BlockHeader
/// @notice Reads the fields the lookahead needs out of an RLP-encoded Ethereum block header.
/// @dev The header is a list whose first fourteen items are, in order: parentHash, ommersHash,
///      beneficiary, stateRoot, transactionsRoot, receiptsRoot, logsBloom, difficulty, number,
///      gasLimit, gasUsed, timestamp, extraData, mixHash. Later items (nonce, baseFee, ...) vary
///      by fork and are not read. Every read is bounds-checked, so malformed input reverts with
///      `InvalidHeaderRlp` and never reads past the calldata it was given. Authenticity is not
///      checked here: the caller compares `keccak256(rlp)` with a known block hash.
library BlockHeader {
    /// @notice The fields of a header that anchor a window's seed.
    struct Fields {
        /// Hash of the parent block.
        bytes32 parentHash;
        /// Block number.
        uint256 number;
        /// Block timestamp, seconds since the Unix epoch.
        uint256 timestamp;
        /// `mixHash`, which holds `prevrandao` since the merge.
        bytes32 mixHash;
    }

    /// @notice The header is not a well-formed RLP list of at least fourteen byte strings.
    error InvalidHeaderRlp();

    uint256 private constant PARENT_HASH = 0;
    uint256 private constant NUMBER = 8;
    uint256 private constant TIMESTAMP = 11;
    uint256 private constant MIX_HASH = 13;

    /// @notice Decodes parentHash, number, timestamp and mixHash from `rlp`.
    function decode(bytes calldata rlp) internal pure returns (Fields memory fields) {
        (uint256 offset, uint256 end) = _listPayload(rlp);
        for (uint256 field; field <= MIX_HASH; ++field) {
            (uint256 start, uint256 length) = _item(rlp, offset, end);
            if (field == PARENT_HASH) {
                fields.parentHash = _bytes32(rlp, start, length);
            } else if (field == NUMBER) {
                fields.number = _uint(rlp, start, length);
            } else if (field == TIMESTAMP) {
                fields.timestamp = _uint(rlp, start, length);
            } else if (field == MIX_HASH) {
                fields.mixHash = _bytes32(rlp, start, length);
            }
            offset = start + length;
        }
    }

    /// @dev Returns the bounds of the payload of the list that must span all of `rlp`.
    function _listPayload(bytes calldata rlp) private pure returns (uint256 start, uint256 end) {
        if (rlp.length == 0) revert InvalidHeaderRlp();
        uint256 prefix = uint8(rlp[0]);
        uint256 length;
        if (prefix < 0xc0) {
            revert InvalidHeaderRlp();
        } else if (prefix <= 0xf7) {
            start = 1;
            length = prefix - 0xc0;
        } else {
            uint256 lengthOfLength = prefix - 0xf7;
            start = 1 + lengthOfLength;
            if (start > rlp.length) revert InvalidHeaderRlp();
            length = _uint(rlp, 1, lengthOfLength);
        }
        end = start + length;
        if (end != rlp.length) revert InvalidHeaderRlp();
    }

    /// @dev Returns the payload bounds of the byte-string item at `offset`, which must end by `end`.
    function _item(bytes calldata rlp, uint256 offset, uint256 end)
        private
        pure
        returns (uint256 start, uint256 length)
    {
        if (offset >= end) revert InvalidHeaderRlp();
        uint256 prefix = uint8(rlp[offset]);
        if (prefix < 0x80) {
            (start, length) = (offset, 1);
        } else if (prefix <= 0xb7) {
            (start, length) = (offset + 1, prefix - 0x80);
        } else if (prefix <= 0xbf) {
            uint256 lengthOfLength = prefix - 0xb7;
            start = offset + 1 + lengthOfLength;
            if (start > end) revert InvalidHeaderRlp();
            length = _uint(rlp, offset + 1, lengthOfLength);
        } else {
            revert InvalidHeaderRlp();
        }
        if (length > end - start) revert InvalidHeaderRlp();
    }

    /// @dev Big-endian unsigned integer of at most 32 bytes.
    function _uint(bytes calldata rlp, uint256 start, uint256 length) private pure returns (uint256 value) {
        if (length > 32) revert InvalidHeaderRlp();
        for (uint256 i; i < length; ++i) {
            value = (value << 8) | uint8(rlp[start + i]);
        }
    }

    /// @dev A 32-byte string.
    function _bytes32(bytes calldata rlp, uint256 start, uint256 length) private pure returns (bytes32) {
        if (length != 32) revert InvalidHeaderRlp();
        return bytes32(rlp[start:start + 32]);
    }
}

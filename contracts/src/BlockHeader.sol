// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

/// @title BlockHeader
/// @notice Reads the fields the lookahead needs out of an RLP-encoded Ethereum block header.
/// @dev The header is a list whose first fourteen items are, in order: parentHash, ommersHash,
///      beneficiary, stateRoot, transactionsRoot, receiptsRoot, logsBloom, difficulty, number,
///      gasLimit, gasUsed, timestamp, extraData, mixHash. Later items (nonce, baseFee, ...) vary
///      by fork and are not read. Every read is bounds-checked, so malformed input reverts with
///      `InvalidHeaderRlp` and never uses a byte past the calldata it was given. Authenticity is not
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

    /// @notice Decodes parentHash, number, timestamp and mixHash from `rlp`.
    /// @dev One pass over the first fourteen item headers with `calldataload`: a header is about
    ///      600 bytes, and decoding it item by item through bounds-checked slices cost ~15k gas,
    ///      more than the rest of a seed checkpoint. Every length is checked against the end of
    ///      the list before any byte behind it is used, so nothing past `rlp` reaches a result.
    function decode(bytes calldata rlp) internal pure returns (Fields memory fields) {
        bool bad;
        bytes32 parentHash;
        uint256 blockNumber;
        uint256 blockTimestamp;
        bytes32 mixHash;
        assembly ("memory-safe") {
            let data := rlp.offset
            let size := rlp.length
            let offset
            let end
            // The list's header: it must span all of `rlp`.
            switch size
            case 0 { bad := 1 }
            default {
                let prefix := byte(0, calldataload(data))
                switch lt(prefix, 0xf8)
                case 1 {
                    bad := lt(prefix, 0xc0)
                    offset := 1
                    end := add(1, sub(prefix, 0xc0))
                }
                default {
                    // Long list: 1 to 8 length bytes follow the prefix.
                    let lengthOfLength := sub(prefix, 0xf7)
                    offset := add(1, lengthOfLength)
                    bad := gt(offset, size)
                    end := add(offset, shr(sub(256, shl(3, lengthOfLength)), calldataload(add(data, 1))))
                }
                if iszero(eq(end, size)) { bad := 1 }
            }
            // Items 0..13: byte strings only.
            for { let field := 0 } and(iszero(bad), lt(field, 14)) { field := add(field, 1) } {
                if iszero(lt(offset, end)) {
                    bad := 1
                    break
                }
                let prefix := byte(0, calldataload(add(data, offset)))
                let start := add(offset, 1)
                let length
                switch lt(prefix, 0xb8)
                case 1 {
                    switch lt(prefix, 0x80)
                    case 1 {
                        start := offset
                        length := 1
                    }
                    default { length := sub(prefix, 0x80) }
                }
                default {
                    if gt(prefix, 0xbf) {
                        bad := 1
                        break
                    }
                    // Long string: 1 to 8 length bytes, all before `start <= end`.
                    let lengthOfLength := sub(prefix, 0xb7)
                    start := add(start, lengthOfLength)
                    if gt(start, end) {
                        bad := 1
                        break
                    }
                    length := shr(sub(256, shl(3, lengthOfLength)), calldataload(add(data, add(offset, 1))))
                }
                if gt(length, sub(end, start)) {
                    bad := 1
                    break
                }
                switch field
                case 0 {
                    if iszero(eq(length, 32)) {
                        bad := 1
                        break
                    }
                    parentHash := calldataload(add(data, start))
                }
                case 8 {
                    if gt(length, 32) {
                        bad := 1
                        break
                    }
                    blockNumber := shr(sub(256, shl(3, length)), calldataload(add(data, start)))
                }
                case 11 {
                    if gt(length, 32) {
                        bad := 1
                        break
                    }
                    blockTimestamp := shr(sub(256, shl(3, length)), calldataload(add(data, start)))
                }
                case 13 {
                    if iszero(eq(length, 32)) {
                        bad := 1
                        break
                    }
                    mixHash := calldataload(add(data, start))
                }
                offset := add(start, length)
            }
        }
        if (bad) revert InvalidHeaderRlp();
        fields = Fields({parentHash: parentHash, number: blockNumber, timestamp: blockTimestamp, mixHash: mixHash});
    }
}

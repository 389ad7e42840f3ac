// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {BlockHeader} from "./BlockHeader.sol";

/// @title SequencerRegistry
/// @notice The L1 registry of rollups and their bonded sequencers, and the one deterministic,
///         credibly neutral function that picks each rollup's sequencer for each L1 slot.
/// @dev Every rollup uses the same randomness (the `prevrandao` of a window's anchor block) and
///      the same draw, so anyone can compute, one to two windows ahead, which sequencer serves
///      which rollup in which slot. The off-chain lookahead engine reproduces `sequencerForSeed`
///      bit for bit from this contract's events.
///
///      Time: `slot = (timestamp - genesisTime) / slotSeconds`, `window = slot / windowSlots`.
///      A registry change included in window X takes effect from window X + ACTIVATION_DELAY, so
///      every change that can affect window W was included before W's anchor (the last block
///      before window W-1): nobody can choose the set after seeing the seed. That includes the
///      array the draws are reduced over: window W selects among the indices that exist in W
///      (`existsFrom <= W`), so a registration after the anchor cannot reshuffle W.
contract SequencerRegistry {
    using BlockHeader for bytes;

    // ------------------------------------------------------------------------------------------
    // Constants
    // ------------------------------------------------------------------------------------------

    /// @notice Windows between the window a change is included in and the window it takes effect.
    uint64 public constant ACTIVATION_DELAY = 3;
    /// @notice Windows after `activeUntil` before the bond can be withdrawn and the index reused.
    uint64 public constant WITHDRAWAL_DELAY = 32;
    /// @notice Random draws before the deterministic fallback scan.
    uint256 public constant MAX_DRAWS = 16;
    /// @notice Cap on a rollup's sequencer array: bounds the fallback scan of the selection.
    uint256 public constant MAX_SEQUENCERS = 256;
    /// @notice Cap on the length of a sequencer's `rpcUrl`, in bytes.
    uint256 public constant MAX_ENDPOINT_LENGTH = 256;
    /// @notice Cap on the number of slots `naiveLookahead` computes in one call.
    uint256 public constant MAX_NAIVE_SLOTS = 1024;
    /// @notice The index returned when no sequencer is active for a slot.
    uint256 public constant NO_SEQUENCER = type(uint256).max;
    /// @notice The EIP-712 name of every signature this registry checks or names (SPEC §7).
    string public constant EIP712_NAME = "SequencerLookahead";
    /// @notice The EIP-712 version of that domain.
    string public constant EIP712_VERSION = "2";
    /// @notice `keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")`.
    bytes32 public constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    /// @notice `keccak256("SignerConsent(uint256 chainId,address operator)")`: a signer's consent to
    ///         sign preconfirmations for `operator` on rollup `chainId`.
    bytes32 public constant SIGNER_CONSENT_TYPEHASH = keccak256("SignerConsent(uint256 chainId,address operator)");
    /// @dev Half the secp256k1 group order: signatures with a larger `s` are malleable (EIP-2).
    uint256 private constant HALF_CURVE_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    /// @notice The EIP-2935 block hash history contract.
    address public constant HISTORY_STORAGE = 0x0000F90827F1C53a10cb7A02335B175320002935;
    /// @notice How many past block hashes the EIP-2935 contract serves.
    uint256 public constant HISTORY_SERVE_WINDOW = 8191;

    // ------------------------------------------------------------------------------------------
    // Types and storage
    // ------------------------------------------------------------------------------------------

    /// @notice One sequencer record. The first slot holds all that the selection reads.
    struct Sequencer {
        /// The account that bonded, and the only one that may update, exit or withdraw.
        address operator;
        /// First window in which the record is active (inclusive).
        uint32 activeFrom;
        /// First window in which the record is no longer active (exclusive); 0 while no exit
        /// has been requested.
        uint32 activeUntil;
        /// First window in which the index is part of the array the selection reduces over. Set
        /// when the index is pushed and kept when it is reused, so it never decreases along the
        /// array: the indices that exist in a window are a prefix.
        uint32 existsFrom;
        /// The key that signs this sequencer's preconfirmations.
        address signer;
        /// The bond, in wei; 0 once withdrawn.
        uint88 bond;
        /// Whether the bond was withdrawn; the index is then free for reuse.
        bool withdrawn;
        /// Where this sequencer serves its `preconf_` API.
        string rpcUrl;
    }

    /// @dev A rollup: its admin (and the one it is being handed to), bond requirement, sequencer
    ///      array and free indices.
    struct Rollup {
        address admin;
        address pendingAdmin;
        uint256 minBond;
        Sequencer[] sequencers;
        uint256[] freeIndices;
    }

    /// @notice Unix time of slot 0.
    uint64 public immutable genesisTime;
    /// @notice Seconds per slot.
    uint64 public immutable slotSeconds;
    /// @notice Slots per window.
    uint64 public immutable windowSlots;

    mapping(uint256 chainId => Rollup) private _rollups;

    // ------------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------------

    /// @notice A rollup was registered.
    event RollupRegistered(uint256 indexed chainId, address indexed admin, uint256 minBond);
    /// @notice A rollup's admin offered the role to `pendingAdmin` (address(0) withdraws the offer).
    event AdminTransferStarted(uint256 indexed chainId, address indexed admin, address indexed pendingAdmin);
    /// @notice `newAdmin` accepted the role of the rollup's admin.
    event AdminTransferred(uint256 indexed chainId, address indexed previousAdmin, address indexed newAdmin);
    /// @notice A rollup's admin changed the bond required of future registrations.
    event MinBondUpdated(uint256 indexed chainId, uint256 minBond);
    /// @notice A sequencer record was created at `index` (possibly reusing a freed index, which
    ///         keeps its `existsFrom`).
    event SequencerRegistered(
        uint256 indexed chainId,
        uint256 indexed index,
        address indexed operator,
        address signer,
        string rpcUrl,
        uint64 activeFrom,
        uint64 existsFrom
    );
    /// @notice A sequencer's endpoint changed; effective at once.
    event EndpointUpdated(uint256 indexed chainId, uint256 indexed index, string rpcUrl);
    /// @notice A sequencer asked to leave; it is active until `activeUntil` (exclusive).
    event ExitRequested(uint256 indexed chainId, uint256 indexed index, uint64 activeUntil);
    /// @notice A bond was returned; the index is free for reuse.
    event Withdrawn(uint256 indexed chainId, uint256 indexed index, uint256 amount);

    // ------------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------------

    /// @notice `slotSeconds` or `windowSlots` is zero.
    error InvalidTiming();
    /// @notice The block is before `genesisTime`, so it has no slot.
    error BeforeGenesis(uint256 timestamp, uint64 genesisTime);
    /// @notice Chain id 0 is not a chain.
    error InvalidChainId();
    /// @notice An address that must be set is zero.
    error ZeroAddress();
    /// @notice The chain id is registered already.
    error RollupAlreadyRegistered(uint256 chainId);
    /// @notice The chain id is not registered.
    error UnknownRollup(uint256 chainId);
    /// @notice Only the rollup's admin may do this.
    error NotRollupAdmin(uint256 chainId, address caller);
    /// @notice Only the account the admin role was offered to may accept it.
    error NotPendingAdmin(uint256 chainId, address caller);
    /// @notice `signer` differs from the operator and no consent signature was given.
    error MissingSignerProof(address signer);
    /// @notice The consent signature is not `signer`'s (malformed, high `s`, or another key's).
    error InvalidSignerProof(address signer, address recovered);
    /// @notice The bond sent is below the rollup's `minBond`.
    error BondTooLow(uint256 required, uint256 sent);
    /// @notice The bond does not fit the record (more than 2^88 - 1 wei).
    error BondTooLarge(uint256 sent);
    /// @notice The endpoint is empty or longer than `MAX_ENDPOINT_LENGTH` bytes.
    error InvalidEndpoint(uint256 length);
    /// @notice The rollup has `MAX_SEQUENCERS` records and none is free.
    error RollupFull(uint256 chainId);
    /// @notice There is no record at this index.
    error UnknownSequencer(uint256 chainId, uint256 index);
    /// @notice Only the record's operator may do this.
    error NotOperator(uint256 chainId, uint256 index, address caller);
    /// @notice The record's bond was withdrawn already.
    error AlreadyWithdrawn(uint256 chainId, uint256 index);
    /// @notice The record has requested its exit already.
    error ExitAlreadyRequested(uint256 chainId, uint256 index, uint64 activeUntil);
    /// @notice A bond can only be withdrawn after an exit.
    error ExitNotRequested(uint256 chainId, uint256 index);
    /// @notice The bond is locked until window `availableFrom`.
    error WithdrawalTooEarly(uint64 currentWindow, uint64 availableFrom);
    /// @notice Sending the bond back failed.
    error TransferFailed(address to, uint256 amount);
    /// @notice The window number does not fit a record (only reachable in the far future).
    error WindowOverflow(uint64 window);
    /// @notice `naiveLookahead` was asked for more than `MAX_NAIVE_SLOTS` slots.
    error TooManySlots(uint256 requested, uint256 max);
    /// @notice `sequencerFor` serves only slots in the current and the next window.
    error SlotOutOfRange(uint64 slot, uint64 currentWindow);
    /// @notice Windows 0 and 1 have no anchor block, hence no seed.
    error NoAnchorWindow(uint64 window);
    /// @notice The block's hash is not available (future, or beyond the EIP-2935 history).
    error BlockHashUnavailable(uint256 number);
    /// @notice The header does not hash to the canonical block hash of its number.
    error HeaderNotCanonical(uint256 number, bytes32 headerHash, bytes32 canonicalHash);
    /// @notice `nextHeader` is not the child of `anchorHeader`.
    error NotParentOf(bytes32 anchorHash, bytes32 nextParentHash);
    /// @notice The headers do not straddle the start of window W-1, so the anchor is not anchor(W).
    error NotAnchor(uint64 window, uint256 anchorTimestamp, uint256 nextTimestamp, uint256 boundary);

    // ------------------------------------------------------------------------------------------
    // Construction and time
    // ------------------------------------------------------------------------------------------

    /// @param genesisTime_ Unix time of slot 0 (the beacon chain genesis on public networks).
    /// @param slotSeconds_ Seconds per slot (12 on public networks).
    /// @param windowSlots_ Slots per window (32, one epoch, by default).
    constructor(uint64 genesisTime_, uint64 slotSeconds_, uint64 windowSlots_) {
        if (slotSeconds_ == 0 || windowSlots_ == 0) revert InvalidTiming();
        genesisTime = genesisTime_;
        slotSeconds = slotSeconds_;
        windowSlots = windowSlots_;
    }

    /// @notice The slot of a Unix timestamp; reverts before genesis.
    function slotAt(uint256 timestamp) public view returns (uint64) {
        if (timestamp < genesisTime) revert BeforeGenesis(timestamp, genesisTime);
        return uint64((timestamp - genesisTime) / slotSeconds);
    }

    /// @notice The window a slot belongs to.
    function windowOf(uint64 slot) public view returns (uint64) {
        return slot / windowSlots;
    }

    /// @notice The slot of the current block.
    function currentSlot() public view returns (uint64) {
        return slotAt(block.timestamp);
    }

    /// @notice The window of the current block.
    function currentWindow() public view returns (uint64) {
        return windowOf(currentSlot());
    }

    // ------------------------------------------------------------------------------------------
    // Rollups
    // ------------------------------------------------------------------------------------------

    /// @notice Registers rollup `chainId` (its L2 chain id); permissionless, first come.
    function registerRollup(uint256 chainId, address admin, uint256 minBond) external {
        if (chainId == 0) revert InvalidChainId();
        if (admin == address(0)) revert ZeroAddress();
        Rollup storage rollup_ = _rollups[chainId];
        if (rollup_.admin != address(0)) revert RollupAlreadyRegistered(chainId);
        rollup_.admin = admin;
        rollup_.minBond = minBond;
        emit RollupRegistered(chainId, admin, minBond);
    }

    /// @notice Changes the bond required of future registrations; existing bonds are unchanged.
    function setMinBond(uint256 chainId, uint256 minBond) external {
        Rollup storage rollup_ = _rollup(chainId);
        if (msg.sender != rollup_.admin) revert NotRollupAdmin(chainId, msg.sender);
        rollup_.minBond = minBond;
        emit MinBondUpdated(chainId, minBond);
    }

    /// @notice Offers the rollup's admin role to `newAdmin`, who must accept it; address(0)
    ///         withdraws a pending offer. Two steps, so a typo cannot lose the role.
    function transferAdmin(uint256 chainId, address newAdmin) external {
        Rollup storage rollup_ = _rollup(chainId);
        if (msg.sender != rollup_.admin) revert NotRollupAdmin(chainId, msg.sender);
        rollup_.pendingAdmin = newAdmin;
        emit AdminTransferStarted(chainId, msg.sender, newAdmin);
    }

    /// @notice Accepts the admin role offered by `transferAdmin`.
    function acceptAdmin(uint256 chainId) external {
        Rollup storage rollup_ = _rollup(chainId);
        if (msg.sender != rollup_.pendingAdmin) revert NotPendingAdmin(chainId, msg.sender);
        address previous = rollup_.admin;
        rollup_.admin = msg.sender;
        rollup_.pendingAdmin = address(0);
        emit AdminTransferred(chainId, previous, msg.sender);
    }

    /// @notice A rollup's admin, bond requirement and sequencer array length (all indices, also
    ///         those that exist only from a later window).
    function rollup(uint256 chainId) external view returns (address admin, uint256 minBond, uint256 sequencerCount) {
        Rollup storage r = _rollups[chainId];
        return (r.admin, r.minBond, r.sequencers.length);
    }

    /// @notice The account the rollup's admin role is offered to, or address(0).
    function pendingAdmin(uint256 chainId) external view returns (address) {
        return _rollups[chainId].pendingAdmin;
    }

    /// @notice `L(W)`: the length of the rollup's sequencer array as of `window`, the indices with
    ///         `existsFrom <= window` (SPEC §5). The selection of window W reduces its draws modulo this.
    function sequencerCountAt(uint256 chainId, uint64 window) external view returns (uint256) {
        return _lengthAt(_rollups[chainId].sequencers, window);
    }

    // ------------------------------------------------------------------------------------------
    // Sequencers
    // ------------------------------------------------------------------------------------------

    /// @notice Bonds `msg.value` as a sequencer of `chainId`, active from three windows on.
    /// @param signer The key that will sign this sequencer's preconfirmations.
    /// @param rpcUrl Where this sequencer serves its `preconf_` API.
    /// @param signerProof The signer's 65-byte EIP-712 signature (low `s`) over
    ///        `SignerConsent(chainId, msg.sender)` (see `signerConsentDigest`), so nobody can name a
    ///        key they do not hold; ignored, and may be empty, when `signer == msg.sender`.
    /// @return index The record's index in the rollup's sequencer array (a freed one is reused).
    function register(uint256 chainId, address signer, string calldata rpcUrl, bytes calldata signerProof)
        external
        payable
        returns (uint256 index)
    {
        Rollup storage rollup_ = _rollup(chainId);
        if (msg.value < rollup_.minBond) revert BondTooLow(rollup_.minBond, msg.value);
        if (msg.value > type(uint88).max) revert BondTooLarge(msg.value);
        if (signer == address(0)) revert ZeroAddress();
        _checkEndpoint(rpcUrl);
        if (signer != msg.sender) _checkSignerConsent(chainId, signer, signerProof);
        uint32 activeFrom = _effectiveWindow();

        uint32 existsFrom;
        uint256 free = rollup_.freeIndices.length;
        if (free != 0) {
            index = rollup_.freeIndices[free - 1];
            rollup_.freeIndices.pop();
            existsFrom = rollup_.sequencers[index].existsFrom;
        } else {
            index = rollup_.sequencers.length;
            if (index == MAX_SEQUENCERS) revert RollupFull(chainId);
            rollup_.sequencers.push();
            existsFrom = activeFrom;
        }
        rollup_.sequencers[index] = Sequencer({
            operator: msg.sender,
            activeFrom: activeFrom,
            activeUntil: 0,
            existsFrom: existsFrom,
            signer: signer,
            bond: uint88(msg.value),
            withdrawn: false,
            rpcUrl: rpcUrl
        });
        emit SequencerRegistered(chainId, index, msg.sender, signer, rpcUrl, activeFrom, existsFrom);
    }

    /// @notice Changes where the sequencer serves its `preconf_` API; effective at once.
    function updateEndpoint(uint256 chainId, uint256 index, string calldata rpcUrl) external {
        Sequencer storage record = _ownRecord(chainId, index);
        _checkEndpoint(rpcUrl);
        record.rpcUrl = rpcUrl;
        emit EndpointUpdated(chainId, index, rpcUrl);
    }

    /// @notice Leaves the rollup: the record stays active until three windows from now (or is
    ///         never active if it was not active yet).
    function requestExit(uint256 chainId, uint256 index) external {
        Sequencer storage record = _ownRecord(chainId, index);
        if (record.activeUntil != 0) revert ExitAlreadyRequested(chainId, index, record.activeUntil);
        uint32 activeUntil = _effectiveWindow();
        if (activeUntil < record.activeFrom) activeUntil = record.activeFrom;
        record.activeUntil = activeUntil;
        emit ExitRequested(chainId, index, activeUntil);
    }

    /// @notice Returns the bond once the record has been inactive for `WITHDRAWAL_DELAY` windows;
    ///         the index becomes free for a later registration.
    function withdraw(uint256 chainId, uint256 index) external {
        Sequencer storage record = _ownRecord(chainId, index);
        if (record.activeUntil == 0) revert ExitNotRequested(chainId, index);
        uint64 availableFrom = uint64(record.activeUntil) + WITHDRAWAL_DELAY;
        uint64 window = currentWindow();
        if (window < availableFrom) revert WithdrawalTooEarly(window, availableFrom);

        uint256 amount = record.bond;
        record.bond = 0;
        record.withdrawn = true;
        _rollups[chainId].freeIndices.push(index);
        emit Withdrawn(chainId, index, amount);

        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    /// @notice The record at `index` (freed records keep their last values until reused).
    function getSequencer(uint256 chainId, uint256 index) external view returns (Sequencer memory) {
        Sequencer[] storage sequencers = _rollups[chainId].sequencers;
        if (index >= sequencers.length) revert UnknownSequencer(chainId, index);
        return sequencers[index];
    }

    /// @notice Whether the record at `index` is active in `window`.
    function isActive(uint256 chainId, uint256 index, uint64 window) external view returns (bool) {
        Sequencer[] storage sequencers = _rollups[chainId].sequencers;
        if (index >= sequencers.length) revert UnknownSequencer(chainId, index);
        return _isActive(sequencers[index], window);
    }

    // ------------------------------------------------------------------------------------------
    // Selection
    // ------------------------------------------------------------------------------------------

    /// @notice The EIP-712 domain separator of this registry (SPEC §7): name "SequencerLookahead",
    ///         version "2", this L1's chain id, this contract. Promises and signer consents use it.
    function domainSeparator() public view returns (bytes32) {
        return keccak256(
            abi.encode(
                DOMAIN_TYPEHASH,
                keccak256(bytes(EIP712_NAME)),
                keccak256(bytes(EIP712_VERSION)),
                block.chainid,
                address(this)
            )
        );
    }

    /// @notice The digest a signer signs to consent to sign for `operator` on rollup `chainId`.
    function signerConsentDigest(uint256 chainId, address operator) public view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(SIGNER_CONSENT_TYPEHASH, chainId, operator));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    /// @notice The seed of window `window` given its anchor's prevrandao:
    ///         `keccak256(abi.encode(prevrandao, uint256(window)))`.
    function windowSeed(bytes32 randao, uint256 window) public pure returns (bytes32 seed) {
        assembly ("memory-safe") {
            mstore(0x00, randao)
            mstore(0x20, window)
            seed := keccak256(0x00, 0x40)
        }
    }

    /// @notice The sequencer of rollup `chainId` in `slot`, given the seed of the slot's window.
    /// @return operator The selected record's operator, or address(0) when none is active.
    /// @return index The selected record's index, or `NO_SEQUENCER` when none is active.
    function sequencerForSeed(uint256 chainId, uint64 slot, bytes32 seed)
        public
        view
        returns (address operator, uint256 index)
    {
        return _select(_rollups[chainId].sequencers, chainId, slot, seed);
    }

    /// @notice The sequencer of rollup `chainId` in `slot`, proving the window's anchor on-chain.
    /// @dev Valid for slots of the current and the next window. `anchorHeader` is the RLP header
    ///      of anchor(W), the last block before window W-1 starts; `nextHeader` is its child, the
    ///      first block of window W-1 or later, whose hash is checked against `blockhash` or the
    ///      EIP-2935 history. Pass an empty `nextHeader` when that child is the current block.
    function sequencerFor(uint256 chainId, uint64 slot, bytes calldata anchorHeader, bytes calldata nextHeader)
        external
        view
        returns (address operator, uint256 index)
    {
        uint64 window = windowOf(slot);
        uint64 current = currentWindow();
        if (window != current && window != current + 1) revert SlotOutOfRange(slot, current);
        if (window < 2) revert NoAnchorWindow(window);

        return _select(_rollups[chainId].sequencers, chainId, slot, _provenSeed(window, anchorHeader, nextHeader));
    }

    /// @notice The original proposal's lookahead (not reorg-stable): the operators of the next
    ///         `n` slots, all drawn with the current block's prevrandao as the seed.
    /// @dev `seed = keccak256(abi.encode(block.prevrandao, uint256(currentSlot())))`; address(0)
    ///      where no sequencer is active.
    function naiveLookahead(uint256 chainId, uint256 n) external view returns (address[] memory operators) {
        if (n > MAX_NAIVE_SLOTS) revert TooManySlots(n, MAX_NAIVE_SLOTS);
        uint64 current = currentSlot();
        bytes32 seed = windowSeed(bytes32(block.prevrandao), current);
        Sequencer[] storage sequencers = _rollups[chainId].sequencers;
        operators = new address[](n);
        for (uint64 i; i < n; ++i) {
            (operators[i],) = _select(sequencers, chainId, current + i + 1, seed);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev SPEC §5: up to MAX_DRAWS random draws over the array as of the slot's window, then a
    ///      scan from the last draw.
    function _select(Sequencer[] storage sequencers, uint256 chainId, uint64 slot, bytes32 seed)
        private
        view
        returns (address, uint256)
    {
        uint64 window = slot / windowSlots;
        uint256 length = _lengthAt(sequencers, window);
        if (length == 0) return (address(0), NO_SEQUENCER);
        uint256 index;
        for (uint256 k; k < MAX_DRAWS; ++k) {
            index = _draw(seed, chainId, slot, k) % length;
            Sequencer storage record = sequencers[index];
            if (_isActive(record, window)) return (record.operator, index);
        }
        for (uint256 step = 1; step < length; ++step) {
            uint256 candidate = (index + step) % length;
            Sequencer storage record = sequencers[candidate];
            if (_isActive(record, window)) return (record.operator, candidate);
        }
        return (address(0), NO_SEQUENCER);
    }

    /// @dev `L(window)`: the number of indices with `existsFrom <= window`. They are a prefix
    ///      because `existsFrom` never decreases along the array; the newest index usually exists
    ///      already (one read), otherwise a binary search finds the first that does not.
    function _lengthAt(Sequencer[] storage sequencers, uint64 window) private view returns (uint256) {
        uint256 high = sequencers.length;
        if (high == 0 || sequencers[high - 1].existsFrom <= window) return high;
        high -= 1;
        uint256 low;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            if (sequencers[mid].existsFrom <= window) low = mid + 1;
            else high = mid;
        }
        return low;
    }

    /// @dev `uint256(keccak256(abi.encode(seed, chainId, uint256(slot), k)))`.
    function _draw(bytes32 seed, uint256 chainId, uint64 slot, uint256 k) private pure returns (uint256 draw) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, seed)
            mstore(add(ptr, 0x20), chainId)
            mstore(add(ptr, 0x40), slot)
            mstore(add(ptr, 0x60), k)
            draw := keccak256(ptr, 0x80)
        }
    }

    /// @dev `activeFrom <= window < activeUntil`, where activeUntil 0 means no exit requested.
    function _isActive(Sequencer storage record, uint64 window) private view returns (bool) {
        uint256 until = record.activeUntil;
        return record.activeFrom <= window && (until == 0 || window < until);
    }

    /// @dev Checks that `anchorHeader` is anchor(window) and returns the window's seed.
    function _provenSeed(uint64 window, bytes calldata anchorHeader, bytes calldata nextHeader)
        private
        view
        returns (bytes32)
    {
        BlockHeader.Fields memory anchor = anchorHeader.decode();
        bytes32 anchorHash = keccak256(anchorHeader);
        uint256 nextTimestamp;
        if (nextHeader.length == 0) {
            bytes32 parentHash = blockhash(block.number - 1);
            if (parentHash != anchorHash) revert NotParentOf(anchorHash, parentHash);
            nextTimestamp = block.timestamp;
        } else {
            BlockHeader.Fields memory next = nextHeader.decode();
            _checkCanonical(next.number, keccak256(nextHeader));
            if (next.parentHash != anchorHash) revert NotParentOf(anchorHash, next.parentHash);
            nextTimestamp = next.timestamp;
        }

        uint256 boundary = uint256(genesisTime) + uint256(window - 1) * windowSlots * slotSeconds;
        if (anchor.timestamp >= boundary || nextTimestamp < boundary) {
            revert NotAnchor(window, anchor.timestamp, nextTimestamp, boundary);
        }
        return windowSeed(anchor.mixHash, window);
    }

    /// @dev The window from which a change included now takes effect, as a record stores it.
    function _effectiveWindow() private view returns (uint32) {
        uint64 window = currentWindow() + ACTIVATION_DELAY;
        if (window > type(uint32).max) revert WindowOverflow(window);
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint32(window);
    }

    /// @dev Reverts unless `proof` is `signer`'s EIP-712 consent to sign for the caller on `chainId`.
    function _checkSignerConsent(uint256 chainId, address signer, bytes calldata proof) private view {
        if (proof.length == 0) revert MissingSignerProof(signer);
        address recovered = _recover(signerConsentDigest(chainId, msg.sender), proof);
        if (recovered != signer) revert InvalidSignerProof(signer, recovered);
    }

    /// @dev The signer of `digest` from a 65-byte `r || s || v` signature (v 27/28 or 0/1), or
    ///      address(0) when the signature is malformed or has a high `s`.
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v < 27) v += 27;
        if (uint256(s) > HALF_CURVE_ORDER || (v != 27 && v != 28)) return address(0);
        return ecrecover(digest, v, r, s);
    }

    function _rollup(uint256 chainId) private view returns (Rollup storage rollup_) {
        rollup_ = _rollups[chainId];
        if (rollup_.admin == address(0)) revert UnknownRollup(chainId);
    }

    function _ownRecord(uint256 chainId, uint256 index) private view returns (Sequencer storage record) {
        Sequencer[] storage sequencers = _rollup(chainId).sequencers;
        if (index >= sequencers.length) revert UnknownSequencer(chainId, index);
        record = sequencers[index];
        if (record.operator != msg.sender) revert NotOperator(chainId, index, msg.sender);
        if (record.withdrawn) revert AlreadyWithdrawn(chainId, index);
    }

    function _checkEndpoint(string calldata rpcUrl) private pure {
        uint256 length = bytes(rpcUrl).length;
        if (length == 0 || length > MAX_ENDPOINT_LENGTH) revert InvalidEndpoint(length);
    }

    /// @dev Reverts unless `headerHash` is the canonical hash of block `number`.
    function _checkCanonical(uint256 number, bytes32 headerHash) private view {
        bytes32 canonical = _blockHash(number);
        if (canonical != headerHash) revert HeaderNotCanonical(number, headerHash, canonical);
    }

    /// @dev The hash of a past block from `blockhash` (256 blocks) or EIP-2935 (8191 blocks).
    function _blockHash(uint256 number) private view returns (bytes32 hash) {
        if (number >= block.number) revert BlockHashUnavailable(number);
        uint256 age = block.number - number;
        if (age <= 256) {
            hash = blockhash(number);
        } else if (age <= HISTORY_SERVE_WINDOW) {
            (bool ok, bytes memory ret) = HISTORY_STORAGE.staticcall(abi.encode(number));
            if (ok && ret.length == 32) hash = abi.decode(ret, (bytes32));
        }
        if (hash == bytes32(0)) revert BlockHashUnavailable(number);
    }
}

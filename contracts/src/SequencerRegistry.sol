// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {BlockHeader} from "./BlockHeader.sol";
import {IRollupInbox} from "./IRollupInbox.sol";

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
///
///      Accountability (SPEC §8): `checkpointSeed` stores a window's seed once its anchor is
///      proven, `sequencerAt` selects with the stored seed, each rollup names the inbox that says
///      which slots got a batch (`setInbox`, `inboxAt`), `slashPromise` takes the whole bond of a
///      sequencer whose signed promise its batch broke, and `reportMiss` fines and finally evicts
///      a sequencer that does not post in its slots. All of it is decided from L1 data alone.
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
    /// @notice `keccak256("Preconfirmation(uint256 chainId,uint64 slot,bytes32[] txHashes,bytes32 bundleId)")`:
    ///         a sequencer's signed promise to include `txHashes` in its batch for `slot` (SPEC §7).
    bytes32 public constant PRECONFIRMATION_TYPEHASH =
        keccak256("Preconfirmation(uint256 chainId,uint64 slot,bytes32[] txHashes,bytes32 bundleId)");
    /// @notice Share of the remaining bond paid to whoever reports a missed slot, in basis points.
    uint256 public constant MISS_PENALTY_BPS = 100;
    /// @notice Reported misses within one span that evict a record.
    uint8 public constant MAX_MISSES = 3;
    /// @notice Windows a span of misses covers. Spans are aligned (span `k` is windows
    ///         `8k .. 8k + 7`), so whether three misses share a span does not depend on the order
    ///         they are reported in.
    uint64 public constant MISS_SPAN_WINDOWS = 8;
    /// @dev Spans whose misses are counted at once: a report reaches back less than
    ///      `WITHDRAWAL_DELAY` windows, which touches at most 5 spans.
    uint256 private constant MISS_SPANS_TRACKED = 5;
    /// @notice The EIP-2935 block hash history contract.
    address public constant HISTORY_STORAGE = 0x0000F90827F1C53a10cb7A02335B175320002935;
    /// @notice How many past block hashes the EIP-2935 contract serves.
    uint256 public constant HISTORY_SERVE_WINDOW = 8191;
    /// @notice The longest window: a window's anchor must stay provable (EIP-2935) until its
    ///         slots can no longer be slashed, `WITHDRAWAL_DELAY + 2` windows later, or nobody
    ///         could checkpoint its seed in time to hold a sequencer to account.
    uint64 public constant MAX_WINDOW_SLOTS = uint64(HISTORY_SERVE_WINDOW) / (WITHDRAWAL_DELAY + 2);

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
        /// Reported misses in the span of the latest report (SPEC §8); the record is evicted
        /// when a span reaches `MAX_MISSES`.
        uint8 misses;
        /// First window of the span of the latest report.
        uint32 missSpanStart;
        /// Reported misses per span, for the `MISS_SPANS_TRACKED` spans a report can still
        /// reach: 40 bits each at `(span % MISS_SPANS_TRACKED) * 40`, the span number plus one
        /// (32 bits) above the count (8 bits).
        uint200 missCounts;
    }

    /// @notice A sequencer's promise to include `txHashes` in its batch for `slot` of rollup
    ///         `chainId` (SPEC §7), as its signer signs it.
    struct Preconfirmation {
        uint256 chainId;
        uint64 slot;
        bytes32[] txHashes;
        bytes32 bundleId;
    }

    /// @notice A rollup's inbox and the first window it is in force for.
    struct InboxChange {
        /// The `IRollupInbox` that says which slots got a batch; address(0) for none.
        address inbox;
        /// First window this inbox judges.
        uint32 fromWindow;
    }

    /// @dev A rollup. The first slot holds the admin, all the selection needs to know the
    ///      array's length as of a window, and the length of the inbox history, so a selection
    ///      reads one slot of the rollup and one of the selected record, and finding the inbox
    ///      that judges a recent slot reads one more.
    struct Rollup {
        address admin;
        /// Length of the sequencer array (all indices, also those that exist only later).
        uint16 sequencerCount;
        /// `existsFrom` of the newest index: every index exists from this window on.
        uint32 newestExistsFrom;
        /// Length of the inbox history `inboxes`.
        uint32 inboxCount;
        address pendingAdmin;
        uint256 minBond;
        mapping(uint256 index => Sequencer) sequencers;
        uint256[] freeIndices;
        /// The inbox history, oldest first: entry i is in force from its `fromWindow` until
        /// the next entry's.
        mapping(uint256 position => InboxChange) inboxes;
    }

    /// @notice Unix time of slot 0.
    uint64 public immutable genesisTime;
    /// @notice Seconds per slot.
    uint64 public immutable slotSeconds;
    /// @notice Slots per window.
    uint64 public immutable windowSlots;

    mapping(uint256 chainId => Rollup) private _rollups;
    mapping(uint64 window => bytes32 seed) private _seeds;
    mapping(bytes32 promiseDigest => bool) private _slashedPromises;
    mapping(uint256 chainId => mapping(uint64 slot => bool)) private _reportedSlots;

    /// @notice Wei taken from broken promises and kept by this contract for good.
    uint256 public burned;

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
        uint64 existsFrom,
        uint256 bond
    );
    /// @notice A sequencer's endpoint changed; effective at once.
    event EndpointUpdated(uint256 indexed chainId, uint256 indexed index, string rpcUrl);
    /// @notice A sequencer asked to leave; it is active until `activeUntil` (exclusive).
    event ExitRequested(uint256 indexed chainId, uint256 indexed index, uint64 activeUntil);
    /// @notice A bond was returned; the index is free for reuse.
    event Withdrawn(uint256 indexed chainId, uint256 indexed index, uint256 amount);
    /// @notice The seed of `window` was proven from its anchor block and stored.
    event SeedCheckpointed(uint64 indexed window, bytes32 seed, uint256 anchorNumber, bytes32 anchorHash);
    /// @notice The rollup's inbox is `inbox` from window `fromWindow` on. When `replacesLast`, it
    ///         takes the place of the newest entry of the inbox history (one not in force yet, or
    ///         any entry while the rollup never had a sequencer); otherwise it is appended.
    event InboxSet(uint256 indexed chainId, address indexed inbox, uint64 fromWindow, bool replacesLast);
    /// @notice A broken promise took the record's remaining bond (`amount`): half to
    ///         `challenger`, half burned. The record is active until `activeUntil` (exclusive).
    event Slashed(
        uint256 indexed chainId,
        uint256 indexed index,
        uint64 slot,
        bytes32 promiseDigest,
        uint256 amount,
        address challenger,
        uint64 activeUntil
    );
    /// @notice The record selected for `slot` posted no batch; `penalty` went to the reporter.
    ///         `misses` counts the reported misses of the record's current span.
    event MissReported(uint256 indexed chainId, uint256 indexed index, uint64 slot, uint256 penalty, uint8 misses);
    /// @notice The record reached `MAX_MISSES` and is forced out from `activeUntil`.
    event Evicted(uint256 indexed chainId, uint256 indexed index, uint64 activeUntil);

    // ------------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------------

    /// @notice `slotSeconds` or `windowSlots` is zero, or `windowSlots` exceeds `MAX_WINDOW_SLOTS`.
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
    /// @notice No seed is checkpointed for `window`: call `checkpointSeed` first.
    error SeedUnknown(uint64 window);
    /// @notice No record is selected for the slot (the rollup had no active sequencer).
    error NoSequencer(uint256 chainId, uint64 slot);
    /// @notice The rollup has no inbox in force for the slot's window, so it cannot be judged.
    error NoInbox(uint256 chainId, uint64 window);
    /// @notice The slot's window is out of the slashing window: it closed at `closedAt`.
    error TooLate(uint64 slot, uint64 closedAt);
    /// @notice The inbox has not closed the slot yet (no batch, grace period not over).
    error SlotNotClosed(uint64 slot);
    /// @notice The promise's signature does not recover to the selected record's signer.
    error InvalidPromiseSignature(address signer, address recovered);
    /// @notice The promise was slashed already.
    error AlreadySlashed(bytes32 promiseDigest);
    /// @notice The given batch does not hash to the `txListHash` the inbox holds for the slot.
    error BatchMismatch(bytes32 txListHash, bytes32 given);
    /// @notice Every promised hash is in the slot's batch: the promise was kept.
    error PromiseKept(bytes32 promiseDigest);
    /// @notice The slot was reported missed already.
    error AlreadyReported(uint256 chainId, uint64 slot);
    /// @notice The inbox does not say the slot was missed (`status` is its `BatchStatus`).
    error NotMissed(uint256 chainId, uint64 slot, uint8 status);

    // ------------------------------------------------------------------------------------------
    // Construction and time
    // ------------------------------------------------------------------------------------------

    /// @param genesisTime_ Unix time of slot 0 (the beacon chain genesis on public networks).
    /// @param slotSeconds_ Seconds per slot (12 on public networks).
    /// @param windowSlots_ Slots per window (32, one epoch, by default; at most `MAX_WINDOW_SLOTS`).
    constructor(uint64 genesisTime_, uint64 slotSeconds_, uint64 windowSlots_) {
        if (slotSeconds_ == 0 || windowSlots_ == 0 || windowSlots_ > MAX_WINDOW_SLOTS) revert InvalidTiming();
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
        return (r.admin, r.minBond, r.sequencerCount);
    }

    /// @notice The account the rollup's admin role is offered to, or address(0).
    function pendingAdmin(uint256 chainId) external view returns (address) {
        return _rollups[chainId].pendingAdmin;
    }

    /// @notice `L(W)`: the length of the rollup's sequencer array as of `window`, the indices with
    ///         `existsFrom <= window` (SPEC §5). The selection of window W reduces its draws modulo this.
    function sequencerCountAt(uint256 chainId, uint64 window) external view returns (uint256) {
        return _lengthAt(_rollups[chainId], window);
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
            index = rollup_.sequencerCount;
            if (index == MAX_SEQUENCERS) revert RollupFull(chainId);
            existsFrom = activeFrom;
            // forge-lint: disable-next-line(unsafe-typecast)
            rollup_.sequencerCount = uint16(index + 1);
            rollup_.newestExistsFrom = existsFrom;
        }
        rollup_.sequencers[index] = Sequencer({
            operator: msg.sender,
            activeFrom: activeFrom,
            activeUntil: 0,
            existsFrom: existsFrom,
            signer: signer,
            bond: uint88(msg.value),
            withdrawn: false,
            rpcUrl: rpcUrl,
            misses: 0,
            missSpanStart: 0,
            missCounts: 0
        });
        emit SequencerRegistered(chainId, index, msg.sender, signer, rpcUrl, activeFrom, existsFrom, msg.value);
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
        emit ExitRequested(chainId, index, _exit(record));
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
        _pay(msg.sender, amount);
    }

    /// @notice The record at `index` (freed records keep their last values until reused).
    function getSequencer(uint256 chainId, uint256 index) external view returns (Sequencer memory) {
        return _record(chainId, index);
    }

    /// @notice Whether the record at `index` is active in `window`.
    function isActive(uint256 chainId, uint256 index, uint64 window) external view returns (bool) {
        return _isActive(_record(chainId, index), window);
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
        return _select(_rollups[chainId], chainId, slot, seed);
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

        (bytes32 seed,,) = _provenSeed(window, anchorHeader, nextHeader);
        return _select(_rollups[chainId], chainId, slot, seed);
    }

    /// @notice The original proposal's lookahead (not reorg-stable): the operators of the next
    ///         `n` slots, all drawn with the current block's prevrandao as the seed.
    /// @dev `seed = keccak256(abi.encode(block.prevrandao, uint256(currentSlot())))`; address(0)
    ///      where no sequencer is active.
    function naiveLookahead(uint256 chainId, uint256 n) external view returns (address[] memory operators) {
        if (n > MAX_NAIVE_SLOTS) revert TooManySlots(n, MAX_NAIVE_SLOTS);
        uint64 current = currentSlot();
        bytes32 seed = windowSeed(bytes32(block.prevrandao), current);
        Rollup storage rollup_ = _rollups[chainId];
        operators = new address[](n);
        for (uint64 i; i < n; ++i) {
            (operators[i],) = _select(rollup_, chainId, current + i + 1, seed);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Accountability (SPEC §8)
    // ------------------------------------------------------------------------------------------

    /// @notice Proves anchor(`window`) from its header and its child's, exactly as
    ///         `sequencerFor` does, and stores the window's seed; permissionless. A window whose
    ///         seed is stored already returns it without reading the headers.
    /// @dev Works for every window whose headers are still provable (`blockhash` or the EIP-2935
    ///      history); once stored, the seed serves every rollup and every later proof.
    function checkpointSeed(uint64 window, bytes calldata anchorHeader, bytes calldata nextHeader)
        external
        returns (bytes32 seed)
    {
        seed = _seeds[window];
        if (seed != bytes32(0)) return seed;
        if (window < 2) revert NoAnchorWindow(window);
        uint256 anchorNumber;
        bytes32 anchorHash;
        (seed, anchorNumber, anchorHash) = _provenSeed(window, anchorHeader, nextHeader);
        _seeds[window] = seed;
        emit SeedCheckpointed(window, seed, anchorNumber, anchorHash);
    }

    /// @notice The stored seed of `window`, or zero when it was not checkpointed.
    function seedOf(uint64 window) external view returns (bytes32) {
        return _seeds[window];
    }

    /// @notice The sequencer of rollup `chainId` in `slot`, selected with the checkpointed seed
    ///         of the slot's window (reverts `SeedUnknown` without one).
    /// @return operator The selected record's operator, or address(0) when none is active.
    /// @return index The selected record's index, or `NO_SEQUENCER` when none is active.
    function sequencerAt(uint256 chainId, uint64 slot) external view returns (address operator, uint256 index) {
        return _select(_rollups[chainId], chainId, slot, _storedSeed(slot));
    }

    /// @notice Whether `account` is the operator or the signer of the record `sequencerAt`
    ///         selects for `slot`: the accounts an inbox accepts the slot's batch from.
    function isSelected(uint256 chainId, uint64 slot, address account) external view returns (bool) {
        // `_select` written out in one block, as every post to an inbox asks: one read of the
        // seed, of the rollup's first slot and of each candidate's first slot; the signer's slot
        // only when `account` is not the operator.
        uint256 window;
        bytes32 seed;
        uint256 length;
        uint256 map;
        {
            Rollup storage rollup_ = _rollups[chainId];
            mapping(uint256 => Sequencer) storage sequencers = rollup_.sequencers;
            uint256 windowSlots_ = windowSlots;
            bool search;
            assembly ("memory-safe") {
                window := div(slot, windowSlots_)
                mstore(0x00, window)
                mstore(0x20, _seeds.slot)
                seed := sload(keccak256(0x00, 0x40))
                // The rollup's first slot: sequencerCount (bits 160-175), newestExistsFrom (176-207).
                let word := sload(rollup_.slot)
                length := and(shr(160, word), 0xffff)
                search := gt(and(shr(176, word), 0xffffffff), window)
                map := sequencers.slot
            }
            // forge-lint: disable-next-line(unsafe-typecast)
            if (seed == bytes32(0)) revert SeedUnknown(uint64(window));
            // forge-lint: disable-next-line(unsafe-typecast)
            if (search) length = _lengthAt(rollup_, uint64(window));
        }
        assembly ("memory-safe") {
            // A record's first word: operator (bits 0-159), activeFrom (160-191), activeUntil
            // (192-223, 0 for none, so `activeUntil - 1` wraps to "never"); its second: signer
            // (bits 0-159), bond, withdrawn.
            let selected := 0
            if length {
                let ptr := mload(0x40)
                mstore(ptr, seed)
                mstore(add(ptr, 0x20), chainId)
                mstore(add(ptr, 0x40), slot)
                mstore(0x20, map)
                let index
                let at
                let word
                let active
                for { let k := 0 } lt(k, MAX_DRAWS) { k := add(k, 1) } {
                    mstore(add(ptr, 0x60), k)
                    index := mod(keccak256(ptr, 0x80), length)
                    mstore(0x00, index)
                    at := keccak256(0x00, 0x40)
                    word := sload(at)
                    active := and(
                        iszero(gt(and(shr(160, word), 0xffffffff), window)),
                        iszero(gt(window, sub(and(shr(192, word), 0xffffffff), 1)))
                    )
                    if active { break }
                }
                // Fallback: the first active record after the last draw, wrapping around.
                for { let step := 1 } and(iszero(active), lt(step, length)) { step := add(step, 1) } {
                    mstore(0x00, mod(add(index, step), length))
                    at := keccak256(0x00, 0x40)
                    word := sload(at)
                    active := and(
                        iszero(gt(and(shr(160, word), 0xffffffff), window)),
                        iszero(gt(window, sub(and(shr(192, word), 0xffffffff), 1)))
                    )
                }
                if active {
                    let mask := 0xffffffffffffffffffffffffffffffffffffffff
                    selected := eq(account, and(word, mask))
                    if iszero(selected) { selected := eq(account, and(sload(add(at, 1)), mask)) }
                }
            }
            mstore(0x00, selected)
            return(0x00, 0x20)
        }
    }

    /// @notice Names the rollup's inbox (admin only). While the rollup never had a sequencer
    ///         record it is in force at once; afterwards from window
    ///         `X + ACTIVATION_DELAY + WITHDRAWAL_DELAY`, so a sequencer that distrusts it can leave
    ///         before it judges a single slot. A change not in force yet is replaced by the next one.
    function setInbox(uint256 chainId, address inbox) external {
        Rollup storage rollup_ = _rollup(chainId);
        if (msg.sender != rollup_.admin) revert NotRollupAdmin(chainId, msg.sender);
        mapping(uint256 => InboxChange) storage changes = rollup_.inboxes;
        uint256 count = rollup_.inboxCount;
        uint32 fromWindow;
        bool replacesLast;
        if (rollup_.sequencerCount == 0) {
            replacesLast = count != 0;
        } else {
            uint64 from = currentWindow() + ACTIVATION_DELAY + WITHDRAWAL_DELAY;
            if (from > type(uint32).max) revert WindowOverflow(from);
            // forge-lint: disable-next-line(unsafe-typecast)
            fromWindow = uint32(from);
            replacesLast = count != 0 && changes[count - 1].fromWindow > currentWindow();
        }
        InboxChange memory change = InboxChange({inbox: inbox, fromWindow: fromWindow});
        if (replacesLast) {
            changes[count - 1] = change;
        } else {
            changes[count] = change;
            // forge-lint: disable-next-line(unsafe-typecast)
            rollup_.inboxCount = uint32(count + 1);
        }
        emit InboxSet(chainId, inbox, fromWindow, replacesLast);
    }

    /// @notice The inbox that judges the slots of `window`, or address(0) when none does.
    function inboxAt(uint256 chainId, uint64 window) public view returns (address) {
        Rollup storage rollup_ = _rollups[chainId];
        mapping(uint256 => InboxChange) storage changes = rollup_.inboxes;
        for (uint256 i = rollup_.inboxCount; i != 0; --i) {
            InboxChange storage change = changes[i - 1];
            if (change.fromWindow <= window) return change.inbox;
        }
        return address(0);
    }

    /// @notice The EIP-712 digest a sequencer's signer signs for `promise` (SPEC §7).
    function promiseDigest(Preconfirmation calldata preconf) public view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                PRECONFIRMATION_TYPEHASH,
                preconf.chainId,
                preconf.slot,
                keccak256(abi.encodePacked(preconf.txHashes)),
                preconf.bundleId
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    /// @notice Slashes a broken promise; permissionless. The promise must be signed by the signer
    ///         of the record `sequencerAt` selects for its slot, and the slot's inbox must say the
    ///         slot was missed, or hold a batch (`batchTxHashes`, checked against its hash) that
    ///         lacks a promised hash. The record's whole remaining bond is taken, half paid to the
    ///         caller and half burned, and the record is forced out (SPEC §4 timing).
    /// @return amount The bond taken.
    function slashPromise(Preconfirmation calldata preconf, bytes calldata signature, bytes32[] calldata batchTxHashes)
        external
        returns (uint256 amount)
    {
        uint64 slot = preconf.slot;
        _checkNotTooLate(slot);
        bytes32 digest = promiseDigest(preconf);
        if (_slashedPromises[digest]) revert AlreadySlashed(digest);
        (uint256 index, Sequencer storage record) = _selected(preconf.chainId, slot);
        address recovered = _recover(digest, signature);
        if (recovered != record.signer) revert InvalidPromiseSignature(record.signer, recovered);
        _checkBroken(preconf, batchTxHashes, digest);

        _slashedPromises[digest] = true;
        amount = record.bond;
        record.bond = 0;
        uint256 reward = amount / 2;
        burned += amount - reward;
        uint64 activeUntil = record.activeUntil == 0 ? _exit(record) : record.activeUntil;
        emit Slashed(preconf.chainId, index, slot, digest, amount, msg.sender, activeUntil);
        _pay(msg.sender, reward);
    }

    /// @notice Reports that the record selected for `slot` posted no batch; permissionless. The
    ///         reporter gets `MISS_PENALTY_BPS` of the record's remaining bond. The record is
    ///         evicted (a forced exit, SPEC §4 timing) at its `MAX_MISSES`th reported miss in one
    ///         span of `MISS_SPAN_WINDOWS` windows.
    /// @return penalty The part of the bond paid to the caller.
    function reportMiss(uint256 chainId, uint64 slot) external returns (uint256 penalty) {
        _checkNotTooLate(slot);
        if (_reportedSlots[chainId][slot]) revert AlreadyReported(chainId, slot);
        (uint256 index, Sequencer storage record) = _selected(chainId, slot);
        (IRollupInbox.BatchStatus status,) = _batchOf(chainId, slot);
        if (status != IRollupInbox.BatchStatus.Missed) revert NotMissed(chainId, slot, uint8(status));

        _reportedSlots[chainId][slot] = true;
        penalty = uint256(record.bond) * MISS_PENALTY_BPS / 10_000;
        // forge-lint: disable-next-line(unsafe-typecast)
        record.bond -= uint88(penalty);
        uint8 misses = _countMiss(record, windowOf(slot));
        emit MissReported(chainId, index, slot, penalty, misses);
        if (misses == MAX_MISSES) {
            uint64 activeUntil = record.activeUntil == 0 ? _exit(record) : record.activeUntil;
            emit Evicted(chainId, index, activeUntil);
        }
        _pay(msg.sender, penalty);
    }

    /// @notice Whether the promise with this digest was slashed.
    function isSlashed(bytes32 digest) external view returns (bool) {
        return _slashedPromises[digest];
    }

    /// @notice Whether the slot of rollup `chainId` was reported missed.
    function isReported(uint256 chainId, uint64 slot) external view returns (bool) {
        return _reportedSlots[chainId][slot];
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev The stored seed of the slot's window; reverts `SeedUnknown` without one.
    function _storedSeed(uint64 slot) private view returns (bytes32 seed) {
        uint64 window = slot / windowSlots;
        seed = _seeds[window];
        if (seed == bytes32(0)) revert SeedUnknown(window);
    }

    /// @dev The record `sequencerAt` selects; reverts `NoSequencer` when there is none.
    function _selected(uint256 chainId, uint64 slot) private view returns (uint256 index, Sequencer storage record) {
        Rollup storage rollup_ = _rollups[chainId];
        (, index) = _select(rollup_, chainId, slot, _storedSeed(slot));
        if (index == NO_SEQUENCER) revert NoSequencer(chainId, slot);
        record = rollup_.sequencers[index];
    }

    /// @dev Reverts `TooLate` once `currentWindow >= window(slot) + WITHDRAWAL_DELAY`: from then
    ///      on the record may have withdrawn and its index been reused.
    function _checkNotTooLate(uint64 slot) private view {
        uint64 closedAt = windowOf(slot) + WITHDRAWAL_DELAY;
        if (currentWindow() >= closedAt) revert TooLate(slot, closedAt);
    }

    /// @dev What the inbox in force for the slot's window says of the slot.
    function _batchOf(uint256 chainId, uint64 slot) private view returns (IRollupInbox.BatchStatus, bytes32) {
        uint64 window = windowOf(slot);
        address inbox = inboxAt(chainId, window);
        if (inbox == address(0)) revert NoInbox(chainId, window);
        return IRollupInbox(inbox).batchOf(slot);
    }

    /// @dev Reverts unless the slot's inbox shows the promise broken: the slot missed, or its
    ///      batch (`batch`, checked against the inbox's hash) lacks a promised hash.
    function _checkBroken(Preconfirmation calldata preconf, bytes32[] calldata batch, bytes32 digest) private view {
        (IRollupInbox.BatchStatus status, bytes32 txListHash) = _batchOf(preconf.chainId, preconf.slot);
        if (status == IRollupInbox.BatchStatus.Open) revert SlotNotClosed(preconf.slot);
        if (status == IRollupInbox.BatchStatus.Posted) {
            bytes32 given = keccak256(abi.encodePacked(batch));
            if (given != txListHash) revert BatchMismatch(txListHash, given);
            if (_includesAll(batch, preconf.txHashes)) revert PromiseKept(digest);
        }
    }

    /// @dev Counts a reported miss in `window` into its span (`window / MISS_SPAN_WINDOWS`) and
    ///      returns the span's count. Spans are aligned, so the outcome does not depend on the
    ///      order of reports; a span's count lives in a ring of `MISS_SPANS_TRACKED` entries,
    ///      enough for every span a report can still reach, so an entry found holding another
    ///      span is stale and starts over.
    ///      The record's miss fields share one storage slot, the fourth of the record (after
    ///      the packed selection slot, the signer's and `rpcUrl`'s); it is read and written once.
    function _countMiss(Sequencer storage record, uint64 window) private returns (uint8 misses) {
        uint256 span = window / MISS_SPAN_WINDOWS;
        uint256 shift = (span % MISS_SPANS_TRACKED) * 40;
        uint256 missSlot;
        uint256 counts;
        assembly ("memory-safe") {
            missSlot := add(record.slot, 3)
            // misses: bits 0-7, missSpanStart: bits 8-39, missCounts: bits 40-239.
            counts := shr(40, sload(missSlot))
        }
        uint256 entry = (counts >> shift) & 0xFF_FFFF_FFFF;
        uint256 count = entry >> 8 == span + 1 ? entry & 0xFF : 0;
        if (count < type(uint8).max) ++count;
        counts = (counts & ~(uint256(0xFF_FFFF_FFFF) << shift)) | ((((span + 1) << 8) | count) << shift);
        uint256 packed = count | ((span * MISS_SPAN_WINDOWS) << 8) | (counts << 40);
        assembly ("memory-safe") {
            sstore(missSlot, packed)
        }
        // forge-lint: disable-next-line(unsafe-typecast)
        misses = uint8(count);
    }

    /// @dev Whether every hash of `promised` is in `batch`, in O(n + m): the batch goes into an
    ///      open-addressing table keyed by `keccak256(hash, prevrandao)`, so a sequencer cannot
    ///      arrange its batch to make the lookups (and hence slashing it) expensive.
    function _includesAll(bytes32[] calldata batch, bytes32[] calldata promised) private view returns (bool) {
        if (promised.length == 0) return true;
        uint256 size = 2;
        while (size < 2 * batch.length) size <<= 1;
        uint256 mask = size - 1;
        uint256 salt = block.prevrandao;
        bool batchHasZero;
        uint256 table;
        assembly ("memory-safe") {
            table := mload(0x40)
            // Each entry is two words: a full flag and the hash, so a zero hash is storable.
            let bytesLen := mul(size, 0x40)
            calldatacopy(table, calldatasize(), bytesLen)
            mstore(0x40, add(table, bytesLen))
        }
        for (uint256 i; i < batch.length; ++i) {
            bytes32 hash = batch[i];
            if (hash == bytes32(0)) batchHasZero = true;
            assembly ("memory-safe") {
                mstore(0x00, hash)
                mstore(0x20, salt)
                let at := and(keccak256(0x00, 0x40), mask)
                for {} 1 {} {
                    let entry := add(table, mul(at, 0x40))
                    if iszero(mload(entry)) {
                        mstore(entry, 1)
                        mstore(add(entry, 0x20), hash)
                        break
                    }
                    if eq(mload(add(entry, 0x20)), hash) { break }
                    at := and(add(at, 1), mask)
                }
            }
        }
        for (uint256 i; i < promised.length; ++i) {
            bytes32 hash = promised[i];
            if (hash == bytes32(0)) {
                if (!batchHasZero) return false;
                continue;
            }
            bool found;
            assembly ("memory-safe") {
                mstore(0x00, hash)
                mstore(0x20, salt)
                let at := and(keccak256(0x00, 0x40), mask)
                for {} 1 {} {
                    let entry := add(table, mul(at, 0x40))
                    if iszero(mload(entry)) { break }
                    if eq(mload(add(entry, 0x20)), hash) {
                        found := 1
                        break
                    }
                    at := and(add(at, 1), mask)
                }
            }
            if (!found) return false;
        }
        return true;
    }

    /// @dev Ends the record's activity as `requestExit` does (SPEC §4 timing) and returns
    ///      `activeUntil`.
    function _exit(Sequencer storage record) private returns (uint64) {
        uint32 activeUntil = _effectiveWindow();
        if (activeUntil < record.activeFrom) activeUntil = record.activeFrom;
        record.activeUntil = activeUntil;
        return activeUntil;
    }

    /// @dev Sends `amount` wei to `to`.
    function _pay(address to, uint256 amount) private {
        if (amount == 0) return;
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }

    /// @dev SPEC §5: up to MAX_DRAWS random draws over the array as of the slot's window, then a
    ///      scan from the last draw.
    function _select(Rollup storage rollup_, uint256 chainId, uint64 slot, bytes32 seed)
        private
        view
        returns (address, uint256)
    {
        uint64 window = slot / windowSlots;
        uint256 length = _lengthAt(rollup_, window);
        mapping(uint256 => Sequencer) storage sequencers = rollup_.sequencers;
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
    ///      already (the rollup's first slot says so), otherwise a binary search finds the first
    ///      that does not.
    function _lengthAt(Rollup storage rollup_, uint64 window) private view returns (uint256) {
        uint256 high = rollup_.sequencerCount;
        if (high == 0 || rollup_.newestExistsFrom <= window) return high;
        mapping(uint256 => Sequencer) storage sequencers = rollup_.sequencers;
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
        returns (bytes32 seed, uint256 anchorNumber, bytes32 anchorHash)
    {
        BlockHeader.Fields memory anchor = anchorHeader.decode();
        anchorHash = keccak256(anchorHeader);
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
        return (windowSeed(anchor.mixHash, window), anchor.number, anchorHash);
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

    function _record(uint256 chainId, uint256 index) private view returns (Sequencer storage) {
        Rollup storage rollup_ = _rollups[chainId];
        if (index >= rollup_.sequencerCount) revert UnknownSequencer(chainId, index);
        return rollup_.sequencers[index];
    }

    function _ownRecord(uint256 chainId, uint256 index) private view returns (Sequencer storage record) {
        _rollup(chainId);
        record = _record(chainId, index);
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

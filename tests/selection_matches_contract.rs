//! Differential test: the Rust registry mirror and selection against `SequencerRegistry` (and
//! the reference `SlotInbox`) executed on revm, on a chain of real headers.
//!
//! Random registry histories (registrations with and without a separate signer, exits,
//! withdrawals that free indices, re-use of those indices, empty rollups, huge chain ids, odd
//! timings, jumps past the withdrawal delay) and SPEC §8 histories (inboxes deployed and named
//! with `setInbox`, seeds checkpointed from the real anchor headers, batches posted by the
//! selected sequencer's operator or signer, promises signed by its signer and kept, broken or
//! missed, `slashPromise`, `reportMiss` up to eviction) are driven through the real contracts;
//! the Rust side sees only the emitted events, applied to the library's [`Registry`] mirror.
//!
//! After every block the mirror must equal the contract: every record (operator, windows,
//! signer, bond, misses, withdrawal, endpoint), every rollup (admin, `minBond`, array length) and
//! the inbox in force for past, current and future windows. Whom the mirror selects is checked
//! by the contract itself — its inbox takes the batch only from the selected record, a promise
//! slashes only when signed by the selected signer, a missed slot is reportable only when it
//! has a selected record — and every outcome is predicted from the mirror. At many points,
//! random slots (biased to window boundaries, from past windows to windows whose array `L(W)` is
//! shorter than the current one) are queried with random seeds (`sequencerForSeed`) and with the
//! checkpointed ones (`sequencerAt`) and must agree exactly. The test counts, and requires,
//! vectors in windows with a shorter `L(W)`, reused indices, checkpoints, slashes, reported
//! misses and evictions. `LOOKAHEAD_DIFF_VECTORS` sets the number of vectors (default 10,000).

mod common;

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use common::evm::{Outcome, RegistryEvm};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sequencer_lookahead::{
    ChainId, Registry, RegistryDomain, Sequencer, Slot, SlotClock, Window,
    core::{
        contract::{
            SequencerRegistry::{self, SequencerRegistryEvents},
            SlotInbox,
        },
        registry::decode_log,
        selection::length_at,
    },
    preconf::promise::{Promise, PromiseSigner},
    select, window_seed,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

const DEFAULT_VECTORS: usize = 10_000;
const OPERATORS: usize = 8;
/// Windows after a slot's during which it can be slashed or reported (`WITHDRAWAL_DELAY`).
const SLASHING_WINDOWS: u64 = 32;
/// The rollups' admin.
const ADMIN: Address = Address::repeat_byte(0xad);
/// Who calls `slashPromise` and `reportMiss`.
const WATCHER: Address = Address::repeat_byte(0xc1);

struct History {
    chain: RegistryEvm,
    mirror: Registry,
    clock: SlotClock,
    domain: RegistryDomain,
    chain_ids: Vec<U256>,
    operators: Vec<Address>,
    /// A signing key for every operator and every separate signer.
    keys: HashMap<Address, PromiseSigner>,
    /// Separate signers: operator `i` may register with `signers[i]`.
    signers: Vec<Address>,
    /// Every deployed `SlotInbox`: its rollup and grace slots.
    inboxes: HashMap<Address, (U256, u64)>,
    /// The seeds checkpointed on-chain, by window.
    seeds: BTreeMap<u64, B256>,
    /// The batches posted, by inbox and slot.
    posted: BTreeSet<(Address, u64)>,
    /// The slots sequenced already (a batch posted, or left missed on purpose), by inbox.
    sequenced: BTreeSet<(Address, u64)>,
    /// The slots reported missed.
    reported: BTreeSet<(U256, u64)>,
    /// Promises waiting for their slot to close.
    pending: Vec<Pending>,
    /// Why the last call that reverted did, for messages.
    last_revert: String,
    rng: StdRng,
    counts: Counts,
}

/// A signed promise, the batch its slot got (if any), and whether that batch breaks it.
struct Pending {
    promise: Promise,
    inbox: Address,
    batch: Option<Vec<B256>>,
    broken: bool,
}

/// What a history exercised.
#[derive(Default, Clone, Copy)]
struct Counts {
    /// Queries compared.
    vectors: usize,
    /// Of those, `sequencerAt` with a checkpointed seed.
    checkpointed_vectors: usize,
    /// Queries in a window whose array `L(W)` is shorter than the current array.
    shorter_array: usize,
    /// Registrations that reused a freed index.
    reused_indices: usize,
    /// Blocks after which the whole mirror was compared with the contract.
    blocks_compared: usize,
    /// `SeedCheckpointed` events (by `checkpointSeed` or an inbox's `propose`).
    checkpoints: usize,
    /// Batches the selected sequencer posted.
    batches: usize,
    /// `InboxSet` events, and those that replaced the newest entry.
    inbox_changes: usize,
    inbox_replacements: usize,
    /// Broken promises slashed, kept promises refused, promises refused as too late.
    slashes: usize,
    kept_refused: usize,
    late_refused: usize,
    /// `MissReported` and `Evicted` events.
    misses: usize,
    evictions: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Self) {
        self.vectors += other.vectors;
        self.checkpointed_vectors += other.checkpointed_vectors;
        self.shorter_array += other.shorter_array;
        self.reused_indices += other.reused_indices;
        self.blocks_compared += other.blocks_compared;
        self.checkpoints += other.checkpoints;
        self.batches += other.batches;
        self.inbox_changes += other.inbox_changes;
        self.inbox_replacements += other.inbox_replacements;
        self.slashes += other.slashes;
        self.kept_refused += other.kept_refused;
        self.late_refused += other.late_refused;
        self.misses += other.misses;
        self.evictions += other.evictions;
    }
}

/// A deterministic key for `role` number `i`.
fn key(role: &str, i: usize) -> PromiseSigner {
    let secret = keccak256(format!("{role} {i}"));
    PromiseSigner::new(&PrivateKeySigner::from_bytes(&secret).expect("a valid key"))
}

impl History {
    fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let genesis = 1_600_000_000 + rng.random_range(0..100_000_000);
        let slot_seconds =
            *[1, 2, 12, rng.random_range(1..=30)].get(rng.random_range(0..4)).unwrap();
        let window_slots =
            *[1, 4, 32, rng.random_range(1..=64)].get(rng.random_range(0..4)).unwrap();
        let clock = SlotClock::new(genesis, slot_seconds, window_slots).expect("non-zero timing");
        let start = genesis + rng.random_range(0..10 * slot_seconds * window_slots);
        let mut chain = RegistryEvm::deploy(genesis, slot_seconds, window_slots, start);
        chain.set_time(start);
        // revm's chain id is 1.
        let domain = RegistryDomain::new(1, chain.registry);
        assert_eq!(
            chain.view(&SequencerRegistry::domainSeparatorCall {}),
            domain.eip712().separator()
        );

        let mut keys = HashMap::new();
        let mut operators = Vec::new();
        let mut signers = Vec::new();
        for i in 0..OPERATORS {
            let (operator, signer) = (key("operator", i), key("signer", i));
            operators.push(operator.address());
            signers.push(signer.address());
            chain.fund(operator.address());
            keys.insert(operator.address(), operator);
            keys.insert(signer.address(), signer);
        }
        let mut history = Self {
            chain,
            mirror: Registry::default(),
            clock,
            domain,
            chain_ids: Vec::new(),
            operators,
            keys,
            signers,
            inboxes: HashMap::new(),
            seeds: BTreeMap::new(),
            posted: BTreeSet::new(),
            sequenced: BTreeSet::new(),
            reported: BTreeSet::new(),
            pending: Vec::new(),
            last_revert: String::new(),
            rng,
            counts: Counts::default(),
        };
        // A small id, an id beyond u64, and a rollup that stays empty; each of the first two
        // gets two inboxes, one named at once (in force from window 0: no records yet).
        let huge = U256::from_be_bytes(history.rng.random::<[u8; 32]>()) | U256::from(1);
        for chain_id in [U256::from(10), huge, U256::from(777)] {
            history.send(
                ADMIN,
                U256::ZERO,
                &SequencerRegistry::registerRollupCall {
                    chainId: chain_id,
                    admin: ADMIN,
                    minBond: U256::from(100),
                },
            );
            history.chain_ids.push(chain_id);
        }
        let active = [history.chain_ids[0], history.chain_ids[1]];
        for chain_id in active {
            for _ in 0..2 {
                let grace = history.rng.random_range(0..=4);
                let inbox = history.chain.deploy_inbox(chain_id, grace);
                history.inboxes.insert(inbox, (chain_id, grace));
                history.send(
                    ADMIN,
                    U256::ZERO,
                    &SequencerRegistry::setInboxCall { chainId: chain_id, inbox },
                );
            }
        }
        history
    }

    /// Sends `call` to the registry; whether it succeeded.
    fn send<C: alloy_sol_types::SolCall>(&mut self, from: Address, value: U256, call: &C) -> bool {
        let registry = self.chain.registry;
        self.send_to(registry, from, value, call)
    }

    /// Sends `call` to `to` and applies the registry's events to the mirror; whether it
    /// succeeded.
    fn send_to<C: alloy_sol_types::SolCall>(
        &mut self,
        to: Address,
        from: Address,
        value: U256,
        call: &C,
    ) -> bool {
        let logs = match self.chain.send_to(to, from, value, call) {
            Outcome::Success(logs) => logs,
            Outcome::Revert(data) => {
                self.last_revert = revert_reason(&data);
                return false;
            }
        };
        let registry = self.chain.registry;
        for log in logs.iter().filter(|log| log.address == registry) {
            let event = decode_log(log, registry).expect("decodes").expect("ours");
            self.count(&event);
            self.mirror.apply(&event).expect("the contract's events apply");
        }
        true
    }

    /// Counts `event` (before it is applied) and checks what it says of seeds.
    fn count(&mut self, event: &SequencerRegistryEvents) {
        let counts = &mut self.counts;
        match event {
            SequencerRegistryEvents::SequencerRegistered(e) => {
                let length = records(&self.mirror, e.chainId).len();
                if e.index < U256::from(length) {
                    counts.reused_indices += 1;
                }
            }
            SequencerRegistryEvents::SeedCheckpointed(e) => {
                let anchor = self.chain.anchor(e.window).expect("a checkpointed anchor is ours");
                assert_eq!(e.seed, window_seed(anchor.prevrandao, Window(e.window)));
                assert_eq!(
                    (e.anchorNumber, e.anchorHash),
                    (U256::from(anchor.number), anchor.hash)
                );
                self.seeds.insert(e.window, e.seed);
                counts.checkpoints += 1;
            }
            SequencerRegistryEvents::InboxSet(e) => {
                counts.inbox_changes += 1;
                counts.inbox_replacements += usize::from(e.replacesLast);
            }
            SequencerRegistryEvents::Slashed(_) => counts.slashes += 1,
            SequencerRegistryEvents::MissReported(_) => counts.misses += 1,
            SequencerRegistryEvents::Evicted(_) => counts.evictions += 1,
            _ => {}
        }
    }

    fn window_seconds(&self) -> u64 {
        self.clock.slot_seconds() * self.clock.window_slots()
    }

    /// One random registry action, SPEC §8 action or clock move.
    fn step(&mut self) {
        let which = self.rng.random_range(0..OPERATORS);
        let chain_id = self.chain_ids[self.rng.random_range(0..2)];
        let count = records(&self.mirror, chain_id).len();
        let index = U256::from(self.rng.random_range(0..count.max(1)));
        match self.rng.random_range(0..16) {
            0..=2 => self.register(chain_id, which),
            3..=4 => {
                let owner = self.owner(chain_id, index);
                self.send(
                    owner,
                    U256::ZERO,
                    &SequencerRegistry::requestExitCall { chainId: chain_id, index },
                );
            }
            5..=6 => {
                let owner = self.owner(chain_id, index);
                self.send(
                    owner,
                    U256::ZERO,
                    &SequencerRegistry::withdrawCall { chainId: chain_id, index },
                );
            }
            7 => {
                // Past the withdrawal delay, so exited records can be withdrawn and reused.
                let ahead = self.rng.random_range(30..=40) * self.window_seconds();
                self.next_block(self.chain.timestamp() + ahead);
            }
            8 => {
                // Land exactly on the first second of a coming window.
                let window = self.current_window().0 + self.rng.random_range(1..=2);
                let start = self.clock.window_start(Window(window)).expect("realistic window");
                self.next_block(u64::try_from(start).expect("fits"));
            }
            9..=10 => {
                let ahead = self.rng.random_range(0..=self.window_seconds() * 2);
                self.next_block(self.chain.timestamp() + ahead);
            }
            11..=12 => self.sequence(chain_id),
            13 => self.settle(),
            14 => self.report(chain_id),
            _ if self.rng.random_bool(0.3) => {
                let inbox = self.inbox_of(chain_id);
                self.send(
                    ADMIN,
                    U256::ZERO,
                    &SequencerRegistry::setInboxCall { chainId: chain_id, inbox },
                );
            }
            _ => {
                let window =
                    (self.current_window().0 + 1).saturating_sub(self.rng.random_range(0..=4));
                self.checkpoint(window);
            }
        }
    }

    /// Registers operator `which` on `chain_id`, as its own signer or with its separate signer's
    /// consent.
    fn register(&mut self, chain_id: U256, which: usize) {
        let operator = self.operators[which];
        let bond = U256::from(100 + self.rng.random_range(0..1000));
        let (signer, signer_proof) = if self.rng.random_bool(0.7) {
            (operator, Bytes::new())
        } else {
            let signer = self.signers[which];
            let consent = self.domain.signer_consent_hash(ChainId(chain_id), operator);
            let proof = self.keys[&signer].sign_hash(consent).as_bytes();
            (signer, Bytes::copy_from_slice(&proof))
        };
        let call = SequencerRegistry::registerCall {
            chainId: chain_id,
            signer,
            rpcUrl: "http://127.0.0.1:9545".into(),
            signerProof: signer_proof,
        };
        self.send(operator, bond, &call);
    }

    /// One of `chain_id`'s inboxes, or none.
    fn inbox_of(&mut self, chain_id: U256) -> Address {
        let mut ours: Vec<Address> =
            self.inboxes.iter().filter(|(_, (id, _))| *id == chain_id).map(|(a, _)| *a).collect();
        ours.sort();
        ours.push(Address::ZERO);
        ours[self.rng.random_range(0..ours.len())]
    }

    /// Seals the block after comparing the whole mirror with the contract, and opens the next
    /// at `timestamp`.
    fn next_block(&mut self, timestamp: u64) {
        self.check_state();
        self.chain.set_time(timestamp);
    }

    /// Checkpoints the seed of `window` from its real anchor headers, if the chain has them.
    fn checkpoint(&mut self, window: u64) {
        let Some(anchor) = self.chain.anchor(window).filter(|_| window >= 2) else { return };
        let call = SequencerRegistry::checkpointSeedCall {
            window,
            anchorHeader: anchor.header,
            nextHeader: anchor.next,
        };
        assert!(
            self.send(WATCHER, U256::ZERO, &call),
            "the anchor of window {window} proves: {}",
            self.last_revert
        );
        let stored = self.chain.view(&SequencerRegistry::seedOfCall { window });
        assert_eq!(stored, window_seed(anchor.prevrandao, Window(window)));
        assert_eq!(self.seeds.get(&window), Some(&stored));
    }

    /// The sequencer of `chain_id` the mirror selects for a slot of the current block (or a
    /// little earlier) signs a promise and, mostly, posts the slot's batch: with every promised
    /// hash (kept), without one (broken), or none at all (missed).
    fn sequence(&mut self, chain_id: U256) {
        let current = self.current_slot();
        let window = self.clock.window_of(Slot(current));
        let Some(inbox) = self.rollup_inbox(chain_id, window) else { return };
        let grace = self.inboxes[&inbox].1;
        let slot = current - self.rng.random_range(0..=grace.min(2)).min(current);
        let window = self.clock.window_of(Slot(slot));
        if window.0 < 2
            || self.rollup_inbox(chain_id, window) != Some(inbox)
            || !self.sequenced.insert((inbox, slot))
        {
            return;
        }
        let Some(anchor) = self.chain.anchor(window.0) else { return };
        let seed = window_seed(anchor.prevrandao, window);
        let records = records(&self.mirror, chain_id);
        let Some(selected) = select(&self.clock, ChainId(chain_id), Slot(slot), seed, records)
        else {
            return;
        };
        let record = records[selected.index].clone();

        let promised: Vec<B256> = (0..self.rng.random_range(0..=3))
            .map(|_| B256::from(self.rng.random::<[u8; 32]>()))
            .collect();
        let promise = Promise::sign(
            &self.keys[&record.signer],
            &self.domain,
            ChainId(chain_id),
            Slot(slot),
            promised.clone(),
            B256::from(self.rng.random::<[u8; 32]>()),
        );
        let fate = self.rng.random_range(0..4);
        let mut batch = promised.clone();
        if fate == 1 && !batch.is_empty() {
            batch.remove(self.rng.random_range(0..batch.len()));
        }
        batch.extend(
            (0..self.rng.random_range(0..3)).map(|_| B256::from(self.rng.random::<[u8; 32]>())),
        );
        if fate == 3 {
            // Missed: no batch; every promise of the slot is broken.
            self.pending.push(Pending { promise, inbox, batch: None, broken: true });
            return;
        }
        let broken = !promised.iter().all(|hash| batch.contains(hash));
        let (anchor_header, next_header) =
            if self.seeds.contains_key(&window.0) && self.rng.random_bool(0.5) {
                (Bytes::new(), Bytes::new())
            } else {
                (anchor.header, anchor.next)
            };
        let poster = if self.rng.random_bool(0.5) { record.record.operator } else { record.signer };
        let call = SlotInbox::proposeCall {
            slot,
            txHashes: batch.clone(),
            anchorHeader: anchor_header,
            nextHeader: next_header,
        };
        assert!(
            self.send_to(inbox, poster, U256::ZERO, &call),
            "the inbox takes slot {slot}'s batch from the record the mirror selects ({poster}): {}",
            self.last_revert
        );
        self.posted.insert((inbox, slot));
        self.counts.batches += 1;
        self.pending.push(Pending { promise, inbox, batch: Some(batch), broken });
    }

    /// `slashPromise` for every promise whose slot has closed: a broken one within the slashing
    /// window is slashed, a kept or late one is refused.
    fn settle(&mut self) {
        let current = self.current_slot();
        let window = self.current_window().0;
        let pending = std::mem::take(&mut self.pending);
        for item in pending {
            let slot = item.promise.slot.0;
            if current <= slot + self.inboxes[&item.inbox].1 {
                self.pending.push(item);
                continue;
            }
            let slot_window = self.clock.window_of(Slot(slot)).0;
            let late = window >= slot_window + SLASHING_WINDOWS;
            if !self.seeds.contains_key(&slot_window) {
                self.checkpoint(slot_window);
            }
            let judged = self.seeds.contains_key(&slot_window);
            let call = item.promise.slash_call(item.batch.clone().unwrap_or_default());
            let slashed = self.send(WATCHER, U256::ZERO, &call);
            assert_eq!(
                slashed,
                item.broken && !late && judged,
                "slot {slot}: broken {}, late {late}, seed checkpointed {judged}, batch {:?}; {}",
                item.broken,
                item.batch,
                self.last_revert
            );
            if late {
                self.counts.late_refused += 1;
            } else if !item.broken && judged {
                self.counts.kept_refused += 1;
            }
        }
    }

    /// `reportMiss` for a few closed slots of `chain_id` in the last windows (checkpointing
    /// their seeds first, as a watcher does); each outcome is the mirror's prediction.
    fn report(&mut self, chain_id: U256) {
        let current = self.current_slot();
        let current_window = self.current_window().0;
        let window = current_window.saturating_sub(self.rng.random_range(0..=8));
        if !self.seeds.contains_key(&window) {
            self.checkpoint(window);
        }
        let first = window * self.clock.window_slots();
        for _ in 0..3 {
            let slot = first + self.rng.random_range(0..self.clock.window_slots());
            let expected = self.missed(chain_id, slot, current);
            let call = SequencerRegistry::reportMissCall { chainId: chain_id, slot };
            let reported = self.send(WATCHER, U256::ZERO, &call);
            assert_eq!(
                reported, expected,
                "reportMiss of slot {slot} (current {current}): {}",
                self.last_revert
            );
            if reported {
                self.reported.insert((chain_id, slot));
            }
        }
    }

    /// Whether `slot` of `chain_id` is reportable as missed, by the mirror: not reported yet,
    /// within the slashing window, its seed checkpointed, a record selected, an inbox in force
    /// that closed the slot without a batch.
    fn missed(&self, chain_id: U256, slot: u64, current: u64) -> bool {
        let window = self.clock.window_of(Slot(slot));
        if self.reported.contains(&(chain_id, slot))
            || self.current_window().0 >= window.0 + SLASHING_WINDOWS
        {
            return false;
        }
        let Some(&seed) = self.seeds.get(&window.0) else { return false };
        let records = records(&self.mirror, chain_id);
        if select(&self.clock, ChainId(chain_id), Slot(slot), seed, records).is_none() {
            return false;
        }
        let Some(inbox) = self.rollup_inbox(chain_id, window) else { return false };
        let grace = self.inboxes[&inbox].1;
        current > slot && current - slot > grace && !self.posted.contains(&(inbox, slot))
    }

    /// The inbox the mirror says is in force for `window` of `chain_id`.
    fn rollup_inbox(&self, chain_id: U256, window: Window) -> Option<Address> {
        self.mirror.rollup(ChainId(chain_id)).and_then(|rollup| rollup.inbox_at(window))
    }

    fn owner(&mut self, chain_id: U256, index: U256) -> Address {
        let position = usize::try_from(index).expect("small index");
        records(&self.mirror, chain_id)
            .get(position)
            .map_or(self.operators[0], |s| s.record.operator)
    }

    fn current_slot(&self) -> u64 {
        self.clock.slot_at(self.chain.timestamp()).expect("after genesis").0
    }

    fn current_window(&self) -> Window {
        self.clock.window_of(Slot(self.current_slot()))
    }

    /// The mirror against the contract's storage: every rollup, every record, and the inbox in
    /// force for past, current and future windows.
    fn check_state(&mut self) {
        let current = self.current_window().0;
        for chain_id in self.chain_ids.clone() {
            let rollup = self.mirror.rollup(ChainId(chain_id)).expect("registered").clone();
            let on_chain = self.chain.view(&SequencerRegistry::rollupCall { chainId: chain_id });
            assert_eq!(
                (on_chain.admin, on_chain.minBond, on_chain.sequencerCount),
                (rollup.admin, rollup.min_bond, U256::from(rollup.sequencers.len())),
                "rollup {chain_id}"
            );
            for (index, mirrored) in rollup.sequencers.iter().enumerate() {
                let call = SequencerRegistry::getSequencerCall {
                    chainId: chain_id,
                    index: U256::from(index),
                };
                let record = self.chain.view(&call);
                let on_chain = (
                    record.operator,
                    u64::from(record.activeFrom),
                    (record.activeUntil != 0).then_some(u64::from(record.activeUntil)),
                    u64::from(record.existsFrom),
                    record.signer,
                    U256::from(record.bond),
                    record.withdrawn,
                    record.rpcUrl,
                    record.misses,
                );
                let mirror = (
                    mirrored.record.operator,
                    mirrored.record.active_from.0,
                    mirrored.record.active_until.map(|w| w.0),
                    mirrored.record.exists_from.0,
                    mirrored.signer,
                    mirrored.bond,
                    mirrored.withdrawn,
                    mirrored.rpc_url.clone(),
                    mirrored.misses,
                );
                assert_eq!(on_chain, mirror, "rollup {chain_id} record {index}");
            }
            // Past and current windows, and where a change made now takes effect.
            for window in [current.saturating_sub(1), current, current + 35] {
                let call = SequencerRegistry::inboxAtCall { chainId: chain_id, window };
                assert_eq!(
                    self.chain.view(&call),
                    rollup.inbox_at(Window(window)).unwrap_or_default(),
                    "rollup {chain_id} inbox of window {window}"
                );
            }
        }
        self.counts.blocks_compared += 1;
    }
    /// Compares `count` random queries on the current state.
    fn compare(&mut self, count: usize) {
        let current = self.current_window().0;
        for _ in 0..count {
            let chain_id = match self.rng.random_range(0..8) {
                0 => U256::from(self.rng.random::<u64>()),
                n => self.chain_ids[n % 3],
            };
            let window = self.rng.random_range(current.saturating_sub(3)..=current + 6);
            if length_at(records(&self.mirror, chain_id), Window(window))
                < records(&self.mirror, chain_id).len()
            {
                self.counts.shorter_array += 1;
            }
            let first = window * self.clock.window_slots();
            let slot = match self.rng.random_range(0..3) {
                0 => first,
                1 => first + self.clock.window_slots() - 1,
                _ => first + self.rng.random_range(0..self.clock.window_slots()),
            };
            let seed = B256::from(self.rng.random::<[u8; 32]>());
            self.compare_one(chain_id, Slot(slot), seed);
        }
        self.compare_checkpointed();
    }

    /// `sequencerAt` with a checkpointed seed against the selection with the seed of the real
    /// anchor, for a slot of a random checkpointed window.
    fn compare_checkpointed(&mut self) {
        if self.seeds.is_empty() {
            return;
        }
        let (&window, &seed) =
            self.seeds.iter().nth(self.rng.random_range(0..self.seeds.len())).expect("in range");
        let chain_id = self.chain_ids[self.rng.random_range(0..3)];
        let slot = window * self.clock.window_slots()
            + self.rng.random_range(0..self.clock.window_slots());
        let call = SequencerRegistry::sequencerAtCall { chainId: chain_id, slot };
        let on_chain = self.chain.view(&call);
        let expected = select(
            &self.clock,
            ChainId(chain_id),
            Slot(slot),
            seed,
            records(&self.mirror, chain_id),
        );
        let off_chain =
            expected.map_or((Address::ZERO, U256::MAX), |s| (s.operator, U256::from(s.index)));
        assert_eq!(
            (on_chain.operator, on_chain.index),
            off_chain,
            "sequencerAt({chain_id}, {slot})"
        );
        self.counts.vectors += 1;
        self.counts.checkpointed_vectors += 1;
    }

    fn compare_one(&mut self, chain_id: U256, slot: Slot, seed: B256) {
        let on_chain = self.chain.view(&SequencerRegistry::sequencerForSeedCall {
            chainId: chain_id,
            slot: slot.0,
            seed,
        });
        let expected =
            select(&self.clock, ChainId(chain_id), slot, seed, records(&self.mirror, chain_id));
        let off_chain =
            expected.map_or((Address::ZERO, U256::MAX), |s| (s.operator, U256::from(s.index)));
        assert_eq!(
            (on_chain.operator, on_chain.index),
            off_chain,
            "chain {chain_id} slot {slot} seed {seed}: contract and Rust disagree; records {:?}",
            records(&self.mirror, chain_id)
        );
        self.counts.vectors += 1;
    }
}

/// A revert's custom error, by name, or its raw data.
fn revert_reason(data: &Bytes) -> String {
    use alloy_sol_types::SolInterface;
    SequencerRegistry::SequencerRegistryErrors::abi_decode(data)
        .map(|error| format!("{error:?}"))
        .or_else(|_| SlotInbox::SlotInboxErrors::abi_decode(data).map(|error| format!("{error:?}")))
        .unwrap_or_else(|_| format!("revert {data}"))
}

/// The sequencer array of `chain_id` in the mirror (empty for an unknown rollup).
fn records(mirror: &Registry, chain_id: U256) -> &[Sequencer] {
    mirror.rollup(ChainId(chain_id)).map_or(&[], |rollup| rollup.sequencers.as_slice())
}

fn target_vectors() -> usize {
    std::env::var("LOOKAHEAD_DIFF_VECTORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_VECTORS)
}

/// One random history: forty rounds of three steps and thirteen compared vectors; what it
/// exercised.
fn run_history(seed: u64) -> Counts {
    let mut history = History::new(seed);
    for _ in 0..40 {
        for _ in 0..3 {
            history.step();
        }
        history.compare(12);
    }
    history.check_state();
    history.counts
}

#[test]
fn selection_matches_contract_on_random_histories() {
    let target = target_vectors();
    let mut counts = Counts::default();
    let mut histories = 0u64;
    // Histories are independent: two at a time, one per thread (the same ones on any machine).
    while counts.vectors < target {
        let batch = std::thread::scope(|scope| {
            let runs: Vec<_> = (histories..histories + 2)
                .map(|seed| scope.spawn(move || run_history(seed)))
                .collect();
            runs.into_iter().map(|run| run.join().expect("a history passes")).collect::<Vec<_>>()
        });
        for history in batch {
            counts += history;
            histories += 1;
        }
    }
    let c = counts;
    println!(
        "differential: {} vectors ({} with checkpointed seeds) over {histories} histories, 0 \
         mismatches; {} in windows whose L(W) is shorter than the current array, {} registrations \
         reused a freed index; mirror equal to the contract after each of {} blocks; {} seeds \
         checkpointed, {} batches posted by the selected sequencer, {} inbox changes ({} \
         replacing), {} broken promises slashed, {} kept and {} late refused, {} misses \
         reported, {} evictions",
        c.vectors,
        c.checkpointed_vectors,
        c.shorter_array,
        c.reused_indices,
        c.blocks_compared,
        c.checkpoints,
        c.batches,
        c.inbox_changes,
        c.inbox_replacements,
        c.slashes,
        c.kept_refused,
        c.late_refused,
        c.misses,
        c.evictions,
    );
    assert!(c.shorter_array > 0, "no vector in a window with a shorter array");
    assert!(c.reused_indices > 0, "no registration reused a freed index");
    assert!(c.checkpointed_vectors > 0 && c.checkpoints > 0, "no seed checkpointed");
    assert!(c.batches > 0, "no batch posted");
    assert!(c.inbox_replacements > 0, "no inbox entry replaced");
    assert!(c.slashes > 0 && c.kept_refused > 0, "no promise slashed or refused as kept");
    assert!(c.misses > 0 && c.evictions > 0, "no miss reported or no record evicted");
}

#[test]
fn window_seed_matches_contract() {
    let mut chain = RegistryEvm::deploy(0, 12, 32, 1);
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..500 {
        let randao = B256::from(rng.random::<[u8; 32]>());
        let window = rng.random::<u64>();
        let on_chain =
            chain.view(&SequencerRegistry::windowSeedCall { randao, window: U256::from(window) });
        assert_eq!(on_chain, window_seed(randao, Window(window)));
    }
}

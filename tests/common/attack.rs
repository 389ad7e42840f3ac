//! What `tests/hostile_clients.rs` and `benches/hostile_load.rs` throw at a preconfirmation
//! network: each wave comes from loopback addresses of its own (see [`super::hostile`]) and
//! checks every answer against what the servers promise — a refusal code, an HTTP status, a
//! closed connection. A wave returns what it saw: counts by outcome, and every answer that is
//! not one of the expected ones.

use super::{
    hostile::{
        RawHttp, connect_from, error_code, held_silently, huge_body, loopback, request,
        slow_request, ws_from,
    },
    preconf::{transfer, transfer_from},
};
use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, B256, Bytes};
use futures::future::join_all;
use jsonrpsee::{
    core::{
        client::{Error as ClientError, Subscription, SubscriptionClientT},
        traits::ToRpcParams,
    },
    http_client::HttpClient,
    rpc_params,
    ws_client::WsClient,
};
use sequencer_lookahead::{
    ChainId, Slot,
    preconf::{
        api::{BUNDLE_FAILED, DUPLICATE_TX, INVALID_TX, LockRequest, QUOTA, RATE_LIMITED},
        sequencer::MAX_TXS_PER_LOCK,
    },
    rpc::api::LookaheadApiClient,
};
use serde_json::{Value, json, value::RawValue};
use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};
use tokio::{io::AsyncWriteExt, net::TcpStream};

/// JSON-RPC "invalid params".
pub const INVALID_PARAMS: i64 = -32602;

/// The servers under attack.
#[derive(Clone, Debug)]
pub struct Targets {
    /// The lookahead RPC (`lookahead devnet`).
    pub lookahead: SocketAddr,
    /// The sample sequencers' `preconf_` RPCs.
    pub sequencers: Vec<SocketAddr>,
    /// The gateway's `gateway_` RPC.
    pub gateway: SocketAddr,
}

impl Targets {
    /// Every server, named.
    pub fn all(&self) -> Vec<(String, SocketAddr)> {
        let mut all = vec![("lookahead".to_owned(), self.lookahead)];
        all.extend(self.sequencers.iter().enumerate().map(|(i, a)| (format!("sequencer {i}"), *a)));
        all.push(("gateway".to_owned(), self.gateway));
        all
    }
}

/// What a wave saw.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// Answers by outcome.
    pub counts: BTreeMap<String, u64>,
    /// Answers the servers do not promise.
    pub unexpected: Vec<String>,
}

impl Seen {
    /// Counts one `outcome`.
    pub fn count(&mut self, outcome: impl Into<String>) {
        *self.counts.entry(outcome.into()).or_default() += 1;
    }

    /// Records an answer that is not one of the expected ones.
    pub fn unexpected(&mut self, what: impl Into<String>) {
        let what = what.into();
        if self.unexpected.len() < 20 {
            self.unexpected.push(what);
        }
        self.count("unexpected");
    }

    /// Adds `other`'s counts and unexpected answers.
    pub fn merge(&mut self, other: Self) {
        for (outcome, count) in other.counts {
            *self.counts.entry(outcome).or_default() += count;
        }
        for what in other.unexpected {
            if self.unexpected.len() < 20 {
                self.unexpected.push(what);
            }
        }
    }

    /// How many answers had `outcome`.
    pub fn get(&self, outcome: &str) -> u64 {
        self.counts.get(outcome).copied().unwrap_or_default()
    }
}

impl FromIterator<Self> for Seen {
    /// The waves' sightings merged.
    fn from_iter<I: IntoIterator<Item = Self>>(waves: I) -> Self {
        let mut all = Self::default();
        waves.into_iter().for_each(|one| all.merge(one));
        all
    }
}

/// How a held connection holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Connected, no request.
    Idle,
    /// A request whose body never finishes: the server keeps it in progress.
    Slow,
}

/// Opens `count` connections from `from` to `to`; returns those the server still holds half a
/// second later, neither closed nor answered (a request over the address's share is answered
/// with HTTP 429).
pub async fn hold(from: IpAddr, to: SocketAddr, count: usize, how: Hold) -> Vec<TcpStream> {
    let mut opened = Vec::with_capacity(count);
    for _ in 0..count {
        let stream = match how {
            Hold::Idle => connect_from(from, to).await,
            Hold::Slow => slow_request(from, to, 100_000).await,
        };
        if let Ok(stream) = stream {
            opened.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut kept = Vec::with_capacity(opened.len());
    for mut stream in opened {
        if held_silently(&mut stream, Duration::from_millis(1)).await {
            kept.push(stream);
        }
    }
    kept
}

/// The oversized requests of one wave, built once.
#[derive(Clone, Debug)]
pub struct Oversized {
    /// The schedule subscription's params with 100,000 chain ids (one id repeated): a list
    /// 1,500 times over the cap. Serialized once: an attacker does that on machines of its own,
    /// and rebuilding 100,000 strings per wave here took cores the servers share with it.
    subscribe: Box<RawValue>,
    /// `lookahead_getCrossSchedule` and `lookahead_nextSharedSlot` of the same list.
    cross: Vec<u8>,
    next_shared: Vec<u8>,
    /// A batch of 1,000 `rpc.discover` calls.
    batch: Vec<u8>,
    /// For each sequencer, a `preconf_lock` of 257 transactions (one over the most per lock)
    /// for a rollup it serves.
    locks: Vec<Vec<u8>>,
    /// A `gateway_sendBundle` of 17 rollups (one over the most legs).
    bundle: Vec<u8>,
}

impl Oversized {
    /// The requests; the locks for `served[i]`, a rollup sequencer `i` serves.
    pub fn new(served: &[u64]) -> Self {
        let body = |method: &str, params: Value| {
            serde_json::to_vec(&request(1, method, params)).expect("JSON")
        };
        let ids = Value::Array(vec![json!("0x65"); 100_000]);
        let cross = body("lookahead_getCrossSchedule", json!([ids, null, 4]));
        let next_shared = body("lookahead_nextSharedSlot", json!([ids, null]));
        let locks = served
            .iter()
            .map(|chain_id| {
                let lock = json!({
                    "chainId": format!("{chain_id:#x}"),
                    "slot": 1u64 << 40,
                    "txs": vec!["0x00"; 257],
                    "bundleId": B256::ZERO,
                });
                body("preconf_lock", json!([lock]))
            })
            .collect();
        let txs: Vec<Value> =
            (1..=17u64).map(|id| json!({"chainId": format!("{id:#x}"), "rawTx": "0x00"})).collect();
        let bundle = body("gateway_sendBundle", json!([{ "txs": txs }]));
        let batch = batch(1000, "rpc.discover", json!([]));
        let subscribe = serde_json::value::to_raw_value(&json!(["schedule", ids])).expect("JSON");
        Self { subscribe, cross, next_shared, batch, locks, bundle }
    }
}

/// Params serialized beforehand.
struct Serialized(Box<RawValue>);

impl ToRpcParams for Serialized {
    fn to_rpc_params(self) -> Result<Option<Box<RawValue>>, serde_json::Error> {
        Ok(Some(self.0))
    }
}

/// A batch of `count` calls of `method` with `params`.
fn batch(count: u64, method: &str, params: Value) -> Vec<u8> {
    let calls: Vec<Value> = (0..count).map(|id| request(id, method, params.clone())).collect();
    serde_json::to_vec(&calls).expect("JSON")
}

/// Checks that a call was refused with `code`.
fn expect_code(seen: &mut Seen, what: &str, answer: std::io::Result<Value>, code: i64) {
    match answer {
        Ok(answer) if error_code(&answer) == Some(code) => seen.count(format!("{what}: {code}")),
        Ok(answer) => seen.unexpected(format!("{what}: {}", short(&answer))),
        Err(error) => seen.unexpected(format!("{what}: {error}")),
    }
}

/// Checks that a batch over the limit was refused: one error object, no array of answers.
fn expect_refused_batch(seen: &mut Seen, what: &str, answer: std::io::Result<Value>) {
    match answer {
        Ok(answer) if answer.is_object() && error_code(&answer).is_some() => {
            seen.count(format!("{what}: batch refused"))
        }
        Ok(answer) => seen.unexpected(format!("{what}: {}", short(&answer))),
        Err(error) => seen.unexpected(format!("{what}: {error}")),
    }
}

/// A JSON value cut for a message.
pub fn short(value: &Value) -> String {
    let text = value.to_string();
    text.chars().take(300).collect()
}

/// One wave of oversized requests from `from`: a 10 MB body to every server, announced and
/// chunked (HTTP 413: at once for the announced length, once the server has read its limit of
/// the chunked one), lists
/// of 100,000 chain ids to `lookahead_getCrossSchedule`, `lookahead_nextSharedSlot` and the
/// schedule subscription over WebSocket (-32602), batches of 1,000 calls to every server
/// (refused), a lock of 257 transactions (-39104) and a bundle of 17 rollups (-32602).
pub async fn oversized(from: IpAddr, targets: &Targets, payloads: &Oversized) -> Seen {
    let mut seen = Seen::default();
    for (name, addr) in targets.all() {
        match huge_body(from, addr, 10 << 20, false).await {
            Ok(Some(413)) => seen.count("10 MB body: 413"),
            other => seen.unexpected(format!("10 MB body to {name}: {other:?}")),
        }
        // jsonrpsee reads a chunked body up to its limit, then answers 500 (and logs a warning)
        // rather than 413.
        match huge_body(from, addr, 10 << 20, true).await {
            Ok(Some(code @ (413 | 500))) => seen.count(format!("10 MB chunked body: {code}")),
            other => seen.unexpected(format!("10 MB chunked body to {name}: {other:?}")),
        }
        match RawHttp::connect(from, addr).await {
            Ok(mut http) => {
                let answer = http.call_raw(&payloads.batch).await;
                expect_refused_batch(&mut seen, &name, answer);
            }
            Err(error) => seen.unexpected(format!("connecting to {name}: {error}")),
        }
    }
    match RawHttp::connect(from, targets.lookahead).await {
        Ok(mut http) => {
            let answer = http.call_raw(&payloads.cross).await;
            expect_code(&mut seen, "100k ids to getCrossSchedule", answer, INVALID_PARAMS);
            let answer = http.call_raw(&payloads.next_shared).await;
            expect_code(&mut seen, "100k ids to nextSharedSlot", answer, INVALID_PARAMS);
        }
        Err(error) => seen.unexpected(format!("connecting to the lookahead: {error}")),
    }
    match ws_from(from, targets.lookahead).await {
        Ok(ws) => {
            let subscribed = ws
                .subscribe::<Value, _>(
                    "lookahead_subscribe",
                    Serialized(payloads.subscribe.clone()),
                    "lookahead_unsubscribe",
                )
                .await;
            match subscribed {
                Err(ClientError::Call(call)) if i64::from(call.code()) == INVALID_PARAMS => {
                    seen.count("100k ids to subscribe: -32602")
                }
                Err(other) => seen.unexpected(format!("100k ids to subscribe: {other}")),
                Ok(_) => seen.unexpected("100k ids to subscribe: subscribed"),
            }
        }
        Err(error) => seen.unexpected(format!("WebSocket to the lookahead: {error}")),
    }
    for (sequencer, lock) in targets.sequencers.iter().zip(&payloads.locks) {
        match RawHttp::connect(from, *sequencer).await {
            Ok(mut http) => {
                let answer = http.call_raw(lock).await;
                expect_code(&mut seen, "lock of 257 txs", answer, INVALID_TX.into());
            }
            Err(error) => seen.unexpected(format!("connecting to a sequencer: {error}")),
        }
    }
    match RawHttp::connect(from, targets.gateway).await {
        Ok(mut http) => {
            let answer = http.call_raw(&payloads.bundle).await;
            expect_code(&mut seen, "bundle of 17 rollups", answer, INVALID_PARAMS);
        }
        Err(error) => seen.unexpected(format!("connecting to the gateway: {error}")),
    }
    seen
}

/// A `preconf_lock` request's params.
fn lock_params(chain_id: u64, slot: Slot, txs: Vec<Bytes>) -> Value {
    let request = LockRequest {
        chain_id: ChainId::from(chain_id),
        slot,
        txs,
        bundle_id: B256::random(),
        ttl_ms: Some(2_000),
    };
    json!([request])
}

/// Locks [`lock_share`] asks for at once, one per connection.
const SHARE_LOCKS: usize = 16;
/// Transfers in each of [`lock_share`]'s locks, of [`SHARE_GAS`] each.
const SHARE_TXS: usize = 4;
/// Gas of each of [`lock_share`]'s transfers.
const SHARE_GAS: u64 = 1_000_000;
/// Locks [`lock_quota`] asks for, over [`QUOTA_CONNECTIONS`] connections.
const QUOTA_LOCKS: usize = 300;
/// Connections [`lock_quota`] spreads its locks over.
const QUOTA_CONNECTIONS: usize = 32;
/// Transfers of one sender [`lock_sender`] locks, one per lock.
const SENDER_TXS: usize = 20;
/// Times [`costly_locks`] sends its lock, over [`COSTLY_CONNECTIONS`] connections.
const COSTLY_REQUESTS: usize = 64;
/// Connections [`costly_locks`] spreads its requests over.
const COSTLY_CONNECTIONS: usize = 16;

/// The transactions of one slot's lock waves, signed before the attack starts: an attacker
/// signs on machines of its own, so signing here while the servers run would take cores from
/// them that no attacker could.
#[derive(Clone, Debug)]
pub struct LockTxs {
    /// [`lock_share`]'s locks, one per connection, then one more from a new connection.
    share: Vec<Vec<Bytes>>,
    /// [`lock_quota`]'s transfers, from throwaway keys, one per lock.
    quota: Vec<Bytes>,
    /// [`lock_sender`]'s transfers, all from one sender.
    sender: Vec<Bytes>,
    /// [`costly_locks`]' lock: 256 transfers of one sender.
    costly: Vec<Bytes>,
}

impl LockTxs {
    /// `waves` sets of fresh transactions on `chain_id`.
    pub fn sign(chain_id: u64, waves: usize) -> Vec<Self> {
        (0..waves)
            .map(|_| {
                let sender = PrivateKeySigner::random();
                let costly = PrivateKeySigner::random();
                Self {
                    share: (0..=SHARE_LOCKS)
                        .map(|_| (0..SHARE_TXS).map(|_| transfer(chain_id, 0, SHARE_GAS)).collect())
                        .collect(),
                    quota: (0..QUOTA_LOCKS).map(|_| transfer(chain_id, 0, 21_000)).collect(),
                    sender: (0..SENDER_TXS as u64)
                        .map(|nonce| transfer_from(&sender, chain_id, nonce, 21_000))
                        .collect(),
                    costly: (0..MAX_TXS_PER_LOCK as u64)
                        .map(|nonce| transfer_from(&costly, chain_id, nonce, 21_000))
                        .collect(),
                }
            })
            .collect()
    }
}

/// How one lock request ended.
enum Locked {
    Held(Value),
    Refused(i64, String),
    Failed(String),
}

async fn lock(http: &mut RawHttp, params: Value) -> Locked {
    locked(http.call("preconf_lock", params).await)
}

/// How a lock request ended, from its answer.
fn locked(answer: std::io::Result<Value>) -> Locked {
    match answer {
        Ok(answer) => match error_code(&answer) {
            Some(code) => Locked::Refused(code, answer["error"]["message"].to_string()),
            None => Locked::Held(answer["result"]["lockId"].clone()),
        },
        Err(error) => Locked::Failed(error.to_string()),
    }
}

/// What the sequencer at `sequencer` bounds, for the lock waves.
#[derive(Clone, Copy, Debug)]
pub struct LockBounds {
    /// `--caller-slot-share` of the slot's gas, in gas.
    pub share: u64,
    /// `--locks-per-caller`.
    pub locks_per_caller: usize,
    /// `--sender-txs-per-slot`.
    pub sender_txs_per_slot: usize,
}

/// Tries to lock all of `slot` of rollup `chain_id` at the sequencer selected for it, from
/// `from` over one connection per lock of `txs.share` at once (four 1,000,000-gas transfers
/// from throwaway keys each), until the share of one client IP is used (-39108). The locks held
/// are confirmed (promises count against the share too); the same transactions locked again
/// are refused as duplicates (-39114), and a further lock from a new connection of the same
/// address is refused (-39108). Returns what it saw and the gas it holds promised.
pub async fn lock_share(
    from: IpAddr,
    sequencer: SocketAddr,
    chain_id: u64,
    slot: Slot,
    txs: &LockTxs,
    bounds: LockBounds,
) -> (Seen, u64) {
    let mut seen = Seen::default();
    let mut clients = Vec::new();
    for _ in 0..SHARE_LOCKS {
        match RawHttp::connect(from, sequencer).await {
            Ok(http) => clients.push(http),
            Err(error) => seen.unexpected(format!("connecting: {error}")),
        }
    }
    let (locks, further) = txs.share.split_at(SHARE_LOCKS);
    let lock_gas = SHARE_GAS * SHARE_TXS as u64;
    let answers = join_all(
        clients
            .iter_mut()
            .zip(locks)
            .map(|(http, txs)| lock(http, lock_params(chain_id, slot, txs.clone()))),
    )
    .await;
    let mut held = Vec::new();
    for (i, answer) in answers.into_iter().enumerate() {
        match answer {
            Locked::Held(lock_id) => held.push((i, lock_id)),
            Locked::Refused(code, _) if code == i64::from(QUOTA) => seen.count("share: -39108"),
            Locked::Refused(code, message) => {
                seen.unexpected(format!("share lock refused with {code} {message}"))
            }
            Locked::Failed(error) => seen.unexpected(format!("share lock: {error}")),
        }
    }
    let gas = held.len() as u64 * lock_gas;
    seen.counts.insert("share: held".into(), held.len() as u64);
    if gas > bounds.share {
        seen.unexpected(format!(
            "one address holds {gas} gas of slot {slot}, over {}",
            bounds.share
        ));
    }
    let mut promised = Vec::new();
    for (i, lock_id) in &held {
        match clients[*i].call("preconf_confirm", json!([lock_id])).await {
            Ok(answer) if answer.get("result").is_some() => {
                promised.push(*i);
                seen.count("share: promised");
            }
            Ok(answer) => seen.unexpected(format!("confirm: {}", short(&answer))),
            Err(error) => seen.unexpected(format!("confirm: {error}")),
        }
    }
    // The same transactions again, while they are promised.
    if let Some(i) = promised.first() {
        let again = lock(&mut clients[*i], lock_params(chain_id, slot, locks[*i].clone())).await;
        match again {
            Locked::Refused(code, _) if code == i64::from(DUPLICATE_TX) => {
                seen.count("same txs again: -39114")
            }
            Locked::Refused(code, message) => {
                seen.unexpected(format!("same txs again: {code} {message}"))
            }
            Locked::Held(_) => seen.unexpected("the same txs were locked twice in one slot"),
            Locked::Failed(error) => seen.unexpected(format!("same txs again: {error}")),
        }
    }
    if gas + lock_gas > bounds.share {
        match RawHttp::connect(from, sequencer).await {
            Ok(mut http) => {
                match lock(&mut http, lock_params(chain_id, slot, further[0].clone())).await {
                    Locked::Refused(code, _) if code == i64::from(QUOTA) => {
                        seen.count("share, new connection: -39108")
                    }
                    Locked::Refused(code, message) => {
                        seen.unexpected(format!("new connection: {code} {message}"))
                    }
                    Locked::Held(_) => seen.unexpected("a new connection renewed the share"),
                    Locked::Failed(error) => seen.unexpected(format!("new connection: {error}")),
                }
            }
            Err(error) => seen.unexpected(format!("connecting: {error}")),
        }
    }
    (seen, promised.len() as u64 * lock_gas)
}

/// Asks for one lock of each of `txs.quota`'s 21,000-gas transfers (throwaway keys) in `slot`
/// from `from` over 32 connections at once: at most `--locks-per-caller` are held, the others
/// are refused (-39108); the held ones are released again.
pub async fn lock_quota(
    from: IpAddr,
    sequencer: SocketAddr,
    chain_id: u64,
    slot: Slot,
    txs: &LockTxs,
    bounds: LockBounds,
) -> Seen {
    let mut seen = Seen::default();
    let txs = &txs.quota;
    let per_connection = txs.len().div_ceil(QUOTA_CONNECTIONS);
    // Every lock is asked for before any is released: at no time are more held than allowed.
    let locked = join_all(txs.chunks(per_connection).map(|chunk| async move {
        let Ok(mut http) = RawHttp::connect(from, sequencer).await else {
            return (None, vec![Locked::Failed("cannot connect".into())]);
        };
        let mut answers = Vec::with_capacity(chunk.len());
        for tx in chunk {
            answers.push(lock(&mut http, lock_params(chain_id, slot, vec![tx.clone()])).await);
        }
        (Some(http), answers)
    }))
    .await;
    let answers = join_all(locked.into_iter().map(|(http, answers)| async move {
        if let Some(mut http) = http {
            for answer in &answers {
                if let Locked::Held(lock_id) = answer {
                    let _ = http.call("preconf_release", json!([lock_id])).await;
                }
            }
        }
        answers
    }))
    .await;
    let mut held = 0;
    for answer in answers.into_iter().flatten() {
        match answer {
            Locked::Held(_) => held += 1,
            Locked::Refused(code, _) if code == i64::from(QUOTA) => seen.count("quota: -39108"),
            Locked::Refused(code, message) => {
                seen.unexpected(format!("quota lock refused with {code} {message}"))
            }
            Locked::Failed(error) => seen.unexpected(format!("quota lock: {error}")),
        }
    }
    seen.counts.insert("quota: held".into(), held);
    if held as usize > bounds.locks_per_caller {
        seen.unexpected(format!("one address held {held} locks, over {}", bounds.locks_per_caller));
    }
    seen
}

/// Locks that cost the most to refuse: `txs.costly`, 256 transactions of one sender (the most
/// per lock), whose signatures must all be recovered before the sender's quota refuses the lock
/// (-39108); the same lock 64 times over 16 connections of `from`.
pub async fn costly_locks(
    from: IpAddr,
    sequencer: SocketAddr,
    chain_id: u64,
    slot: Slot,
    txs: &LockTxs,
) -> Seen {
    // Serialized once, as an attacker does on machines of its own: the requests are the same,
    // and serializing 256 transactions for each of them here took cores the servers share.
    let params = lock_params(chain_id, slot, txs.costly.clone());
    let body = serde_json::to_vec(&request(1, "preconf_lock", params)).expect("JSON");
    let per_connection = COSTLY_REQUESTS.div_ceil(COSTLY_CONNECTIONS);
    let seen = join_all((0..COSTLY_CONNECTIONS).map(|_| {
        let body = &body;
        async move {
            let mut seen = Seen::default();
            let Ok(mut http) = RawHttp::connect(from, sequencer).await else {
                seen.unexpected("cannot connect");
                return seen;
            };
            for _ in 0..per_connection {
                match locked(http.call_raw(body).await) {
                    Locked::Refused(code, _) if code == i64::from(QUOTA) => {
                        seen.count("costly: -39108")
                    }
                    Locked::Refused(code, message) => {
                        seen.unexpected(format!("costly lock refused with {code} {message}"))
                    }
                    Locked::Held(_) => seen.unexpected("256 txs of one sender were locked"),
                    Locked::Failed(error) => seen.unexpected(format!("costly lock: {error}")),
                }
            }
            seen
        }
    }))
    .await;
    seen.into_iter().collect()
}

/// Locks `txs.sender`, transfers of one sender, one per lock, in `slot`: at most
/// `--sender-txs-per-slot` are held, the rest are refused (-39108); then releases them.
pub async fn lock_sender(
    from: IpAddr,
    sequencer: SocketAddr,
    chain_id: u64,
    slot: Slot,
    txs: &LockTxs,
    bounds: LockBounds,
) -> Seen {
    let mut seen = Seen::default();
    let Ok(mut http) = RawHttp::connect(from, sequencer).await else {
        seen.unexpected("cannot connect");
        return seen;
    };
    let mut held = Vec::new();
    for tx in &txs.sender {
        match lock(&mut http, lock_params(chain_id, slot, vec![tx.clone()])).await {
            Locked::Held(lock_id) => held.push(lock_id),
            Locked::Refused(code, _) if code == i64::from(QUOTA) => seen.count("sender: -39108"),
            Locked::Refused(code, message) => {
                seen.unexpected(format!("sender lock refused with {code} {message}"))
            }
            Locked::Failed(error) => seen.unexpected(format!("sender lock: {error}")),
        }
    }
    seen.counts.insert("sender: held".into(), held.len() as u64);
    if held.len() > bounds.sender_txs_per_slot {
        seen.unexpected(format!("one sender has {} txs in slot {slot}", held.len()));
    }
    for lock_id in held {
        let _ = http.call("preconf_release", json!([lock_id])).await;
    }
    seen
}

/// A `gateway_sendBundle` body of one transfer on each of `chain_ids`, fresh keys.
pub fn bundle_body(chain_ids: &[u64]) -> Vec<u8> {
    let txs: Vec<Value> = chain_ids
        .iter()
        .map(|id| json!({"chainId": format!("{id:#x}"), "rawTx": transfer(*id, 0, 21_000)}))
        .collect();
    serde_json::to_vec(&request(1, "gateway_sendBundle", json!([{ "txs": txs }]))).expect("JSON")
}

/// Sends `bodies` (`gateway_sendBundle` requests) from `from` over `connections` connections
/// as fast as the gateway answers: past the burst, a client IP is held to its rate (-39202).
pub async fn flood_gateway(
    from: IpAddr,
    gateway: SocketAddr,
    bodies: &[Vec<u8>],
    connections: usize,
) -> Seen {
    let per_connection = bodies.len().div_ceil(connections);
    let seen = join_all(bodies.chunks(per_connection).map(|chunk| async move {
        let mut seen = Seen::default();
        let Ok(mut http) = RawHttp::connect(from, gateway).await else {
            seen.unexpected("cannot connect to the gateway");
            return seen;
        };
        for body in chunk {
            match http.call_raw(body).await {
                Ok(answer) => match error_code(&answer) {
                    None => seen.count("flood: promised"),
                    Some(code) if code == i64::from(RATE_LIMITED) => seen.count("flood: -39202"),
                    Some(code) if code == i64::from(BUNDLE_FAILED) => seen.count("flood: -39200"),
                    Some(_) => seen.unexpected(format!("flood: {}", short(&answer))),
                },
                Err(error) => seen.unexpected(format!("flood: {error}")),
            }
        }
        seen
    }))
    .await;
    seen.into_iter().collect()
}

/// Sends `count` `gateway_sendBundle` requests from `from`, each on a new connection that is
/// closed as soon as the request is written: the gateway must not count them in flight forever.
pub async fn hang_up(from: IpAddr, gateway: SocketAddr, body: &[u8], count: usize) {
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {gateway}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    for _ in 0..count {
        if let Ok(mut stream) = connect_from(from, gateway).await {
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body).await;
            drop(stream);
        }
    }
}

/// One bundle from each of `count` addresses from `loopback(first)`, `concurrency` at a time:
/// more clients than the gateway tracks (`--max-clients`), none of them busy for long, so none
/// is refused (-39202).
pub async fn many_clients(
    first: u32,
    count: u32,
    gateway: SocketAddr,
    body: &[u8],
    concurrency: usize,
) -> Seen {
    let addresses: Vec<u32> = (first..first + count).collect();
    let seen = join_all(addresses.chunks(count.div_ceil(concurrency as u32) as usize).map(
        |chunk| async move {
            let mut seen = Seen::default();
            for n in chunk {
                let from = loopback(*n);
                let answer = match RawHttp::connect(from, gateway).await {
                    Ok(mut http) => http.call_raw(body).await,
                    Err(error) => Err(error),
                };
                match answer {
                    Ok(answer) => match error_code(&answer) {
                        None => seen.count("many clients: promised"),
                        Some(code) if code == i64::from(BUNDLE_FAILED) => {
                            seen.count("many clients: -39200")
                        }
                        Some(_) => seen.unexpected(format!("client {from}: {}", short(&answer))),
                    },
                    Err(error) => seen.unexpected(format!("client {from}: {error}")),
                }
            }
            seen
        },
    ))
    .await;
    seen.into_iter().collect()
}

/// The connections an attack holds: dropped, they close.
pub struct Held {
    /// TCP connections, idle or with a request in progress.
    pub streams: Vec<TcpStream>,
    /// Subscribed WebSockets.
    pub sockets: Vec<(WsClient, Subscription<Value>)>,
}

/// Holds what one address can of every server: 600 requests that never finish to every
/// sequencer and the gateway from 127.0.0.10, and 60 subscribed WebSockets, 60 requests that
/// never finish and 300 idle connections to the lookahead RPC from 127.0.0.11. Each server keeps
/// at most its `--rpc.max-connections-per-ip` of them. Returns the connections and how many of
/// each kind each server kept.
pub async fn hold_everything(targets: &Targets) -> (Held, Vec<(String, usize)>) {
    let mut streams = Vec::new();
    let mut kept = Vec::new();
    for (i, sequencer) in targets.sequencers.iter().enumerate() {
        let held = hold(loopback(10), *sequencer, 600, Hold::Slow).await;
        kept.push((format!("sequencer {}", i + 1), held.len()));
        streams.extend(held);
    }
    let held = hold(loopback(10), targets.gateway, 600, Hold::Slow).await;
    kept.push(("gateway".to_owned(), held.len()));
    streams.extend(held);
    let mut sockets = Vec::new();
    for _ in 0..60 {
        let Ok(ws) = ws_from(loopback(11), targets.lookahead).await else { continue };
        let subscribed = ws
            .subscribe::<Value, _>(
                "lookahead_subscribe",
                rpc_params!["schedule"],
                "lookahead_unsubscribe",
            )
            .await;
        if let Ok(subscription) = subscribed {
            sockets.push((ws, subscription));
        }
    }
    kept.push(("lookahead, WebSockets".to_owned(), sockets.len()));
    let held = hold(loopback(11), targets.lookahead, 60, Hold::Slow).await;
    kept.push(("lookahead, requests in progress".to_owned(), held.len()));
    streams.extend(held);
    let held = hold(loopback(11), targets.lookahead, 300, Hold::Idle).await;
    kept.push(("lookahead, idle".to_owned(), held.len()));
    streams.extend(held);
    (Held { streams, sockets }, kept)
}

/// Oversized requests from 127.0.0.20 ([`oversized`]), a wave every `period` (or as soon as the
/// last is answered, if later) until `end`; `served[i]` is a rollup sequencer `i` serves.
pub async fn oversized_until(
    targets: Targets,
    served: Vec<u64>,
    period: Duration,
    end: Instant,
) -> Seen {
    let payloads = Oversized::new(&served);
    let mut seen = Seen::default();
    while Instant::now() < end {
        let next = Instant::now() + period;
        seen.merge(oversized(loopback(20), &targets, &payloads).await);
        tokio::time::sleep_until(next.into()).await;
    }
    seen
}

/// What the lock waves need to find their slots.
pub struct LockView {
    /// A client of the lookahead.
    pub lookahead: HttpClient,
    /// The operators of the attacked sequencers, by dev account: sequencer `i` of the
    /// [`Targets`] is operator `operators[i + 1]`. Slots of other operators are left alone.
    pub operators: Vec<Address>,
    /// The rollup whose slots are locked.
    pub chain_id: u64,
    /// What the sequencers bound.
    pub bounds: LockBounds,
    /// The waves' transactions ([`LockTxs::sign`]), a set per slot attacked, in turn.
    pub txs: Vec<LockTxs>,
}

/// Lock waves on the next slots of `view.chain_id` (at least three slots ahead) at their
/// sequencers, until `end`: [`lock_share`] from 127.0.0.2 (16 connections), [`lock_quota`] from
/// 127.0.0.3 (300 locks on 32 connections), [`lock_sender`] from 127.0.0.4 (20 transactions),
/// [`costly_locks`] from 127.0.0.5 (64 locks of 256 transactions on 16 connections).
pub async fn locks_until(view: LockView, targets: Targets, end: Instant) -> Seen {
    let mut seen = Seen::default();
    let mut last = 0;
    let mut sets = view.txs.iter().cycle();
    while Instant::now() < end {
        let Ok(status) = view.lookahead.status().await else {
            seen.unexpected("the lookahead does not answer status");
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let now = status.engine.head.and_then(|head| head.slot).map_or(0, |slot| slot.0);
        let chain_id = ChainId::from(view.chain_id);
        let entries = view
            .lookahead
            .get_cross_schedule(vec![chain_id].into(), None, Some(16))
            .await
            .unwrap_or_default();
        let target = entries.into_iter().find_map(|entry| {
            let operator = entry.entries.get(&chain_id)?.sequencer.as_ref()?.operator;
            let index = view.operators.iter().position(|known| *known == operator)?;
            (index >= 1 && entry.slot.0 >= now + 3 && entry.slot.0 > last)
                .then_some((entry.slot, index))
        });
        let Some((slot, operator)) = target else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        last = slot.0;
        let Some(sequencer) = targets.sequencers.get(operator - 1).copied() else { continue };
        let (id, bounds) = (view.chain_id, view.bounds);
        let Some(txs) = sets.next() else { break };
        let (share, _) = lock_share(loopback(2), sequencer, id, slot, txs, bounds).await;
        seen.merge(share);
        seen.merge(lock_quota(loopback(3), sequencer, id, slot, txs, bounds).await);
        seen.merge(lock_sender(loopback(4), sequencer, id, slot, txs, bounds).await);
        seen.merge(costly_locks(loopback(5), sequencer, id, slot, txs).await);
    }
    seen
}

/// The bundles of one gateway wave, signed before the attack starts (as [`LockTxs`]):
/// `gateway_sendBundle` bodies of one transfer on each rollup, fresh keys.
#[derive(Clone, Debug)]
pub struct GatewayBundles {
    /// The flood's 300 bundles.
    flood: Vec<Vec<u8>>,
    /// The bundle hung up on, again and again.
    hung_up: Vec<u8>,
    /// The bundle sent after hanging up.
    after: Vec<u8>,
    /// The bundle each of many addresses sends.
    many: Vec<u8>,
}

impl GatewayBundles {
    /// `waves` sets of fresh bundles over `chain_ids`.
    pub fn sign(chain_ids: &[u64], waves: usize) -> Vec<Self> {
        (0..waves)
            .map(|_| Self {
                flood: (0..300).map(|_| bundle_body(chain_ids)).collect(),
                hung_up: bundle_body(chain_ids),
                after: bundle_body(chain_ids),
                many: bundle_body(chain_ids),
            })
            .collect()
    }
}

/// New addresses that each of [`gateway_until`]'s waves sends one bundle from.
pub const MANY_CLIENTS: u32 = 300;

/// The gateway's waves until `end`, with `bundles` in turn: a flood of 300 bundles from
/// 127.0.0.30 on 16 connections; 40 bundles hung up on from 127.0.0.31 (a new address each
/// wave), then one more from there, which must be served; one bundle from each of
/// [`MANY_CLIENTS`] addresses from `loopback(many_from)` (a new range each wave).
pub async fn gateway_until(
    targets: Targets,
    bundles: Vec<GatewayBundles>,
    many_from: u32,
    end: Instant,
) -> Seen {
    let mut seen = Seen::default();
    let mut wave = 0;
    let mut sets = bundles.iter().cycle();
    while Instant::now() < end {
        let Some(bundles) = sets.next() else { break };
        seen.merge(flood_gateway(loopback(30), targets.gateway, &bundles.flood, 16).await);

        // More hung-up bundles than the 16 one address may have in flight: once the gateway has
        // dropped them, the address is served again.
        let hung_up = 31 + wave % 64;
        hang_up(loopback(hung_up), targets.gateway, &bundles.hung_up, 40).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = many_clients(hung_up, 1, targets.gateway, &bundles.after, 1).await;
        for what in after.unexpected {
            seen.unexpected(format!("after hanging up: {what}"));
        }
        seen.count("hung up, then served");

        // One at a time: the gateway forgets a client once its bucket is full again (20 ms
        // after one bundle), so only those of the last 20 ms are tracked at once (more than 64
        // in a release build), and the map, bounded by a `--max-clients` above that, never
        // refuses one as one too many.
        let first = many_from + MANY_CLIENTS * (wave % 64);
        seen.merge(many_clients(first, MANY_CLIENTS, targets.gateway, &bundles.many, 1).await);
        wave += 1;
    }
    seen
}

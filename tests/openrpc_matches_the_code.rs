//! The committed OpenRPC document (`docs/openrpc.json`) against the code, so that it cannot
//! drift: its methods are exactly the ones the jsonrpsee servers register, per namespace; every
//! result and request object has exactly the fields the Rust types serialize (a sample value of
//! each is checked against its schema, recursively, so an undocumented field fails); every enum
//! lists the variants; the error codes are the code's constants; and `rpc.discover` serves it.

use alloy_primitives::{Address, B256, Bytes, Signature, U256};
use jsonrpsee::{
    Extensions,
    core::{RpcResult, async_trait},
    types::error::INVALID_PARAMS_CODE,
};
use sequencer_lookahead::{
    BlockRef, ChainId, ChangeKind, Engine, EngineConfig, EngineStatus, EntryStatus, HeadStatus,
    ReorgStatus, RollupInfo, ScheduleEntry, ScheduleNotification, SequencerInfo, Slot, SlotClock,
    Window,
    preconf::{
        api::{self as preconf_api, *},
        promise::Promise,
    },
    rpc::{
        api::{self, CrossScheduleEntry, LookaheadApiServer, LookaheadStatus},
        openrpc,
        server::LookaheadRpc,
    },
    service::shared::SharedEngine,
    watch::api::{self as watch_api, WatchApiServer},
};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

fn document() -> Value {
    serde_json::from_str(openrpc::DOCUMENT).expect("docs/openrpc.json is JSON")
}

fn method_names(document: &Value) -> BTreeSet<String> {
    document["methods"]
        .as_array()
        .expect("methods")
        .iter()
        .map(|method| method["name"].as_str().expect("a method has a name").to_owned())
        .collect()
}

fn in_namespace(names: &BTreeSet<String>, namespace: &str) -> BTreeSet<String> {
    names.iter().filter(|name| name.starts_with(&format!("{namespace}_"))).cloned().collect()
}

/// A `preconf_` server that is never called: only its registered method names are read.
struct NoPreconf;

#[async_trait]
impl PreconfApiServer for NoPreconf {
    async fn lock(&self, _: &Extensions, _: LockRequest) -> RpcResult<LockReceipt> {
        unreachable!("never called")
    }
    async fn confirm(&self, _: B256) -> RpcResult<Promise> {
        unreachable!("never called")
    }
    async fn release(&self, _: B256) -> RpcResult<bool> {
        unreachable!("never called")
    }
    async fn get_promises(&self, _: Slot) -> RpcResult<Vec<Promise>> {
        unreachable!("never called")
    }
    async fn lock_and_confirm(&self, _: &Extensions, _: CommitRequest) -> RpcResult<Vec<Promise>> {
        unreachable!("never called")
    }
}

/// A `gateway_` server that is never called.
struct NoGateway;

#[async_trait]
impl GatewayApiServer for NoGateway {
    async fn send_bundle(&self, _: &Extensions, _: BundleRequest) -> RpcResult<BundleReceipt> {
        unreachable!("never called")
    }
}

/// A `watch_` server that is never called.
struct NoWatch;

#[async_trait]
impl WatchApiServer for NoWatch {
    async fn submit_promise(&self, _: &Extensions, _: Promise) -> RpcResult<bool> {
        unreachable!("never called")
    }
}

fn engine() -> std::sync::Arc<SharedEngine> {
    SharedEngine::new(Engine::new(EngineConfig {
        registry: Address::repeat_byte(0x11),
        deployment_block: 0,
        clock: SlotClock::MAINNET,
    }))
}

#[test]
fn the_document_lists_exactly_the_methods_the_servers_register() {
    let documented = method_names(&document());
    let lookahead: BTreeSet<String> =
        LookaheadRpc::new(engine()).into_rpc().method_names().map(str::to_owned).collect();
    let preconf: BTreeSet<String> =
        NoPreconf.into_rpc().method_names().map(str::to_owned).collect();
    let gateway: BTreeSet<String> =
        NoGateway.into_rpc().method_names().map(str::to_owned).collect();
    let watch: BTreeSet<String> = NoWatch.into_rpc().method_names().map(str::to_owned).collect();
    assert_eq!(
        lookahead,
        api::METHOD_NAMES.iter().map(|name| (*name).to_owned()).collect(),
        "METHOD_NAMES is the module's"
    );
    assert_eq!(in_namespace(&documented, "lookahead"), lookahead, "lookahead_ methods");
    assert_eq!(in_namespace(&documented, "preconf"), preconf, "preconf_ methods");
    assert_eq!(in_namespace(&documented, "gateway"), gateway, "gateway_ methods");
    assert_eq!(in_namespace(&documented, "watch"), watch, "watch_ methods");
    let all: BTreeSet<String> = lookahead
        .iter()
        .chain(&preconf)
        .chain(&gateway)
        .chain(&watch)
        .cloned()
        .chain([openrpc::DISCOVER.to_owned()])
        .collect();
    assert_eq!(documented, all, "no other methods");
}

fn sequencer_info() -> SequencerInfo {
    SequencerInfo {
        index: 1,
        operator: Address::repeat_byte(1),
        signer: Address::repeat_byte(2),
        rpc_url: "http://127.0.0.1:9601".into(),
        bond: U256::from(10u64).pow(U256::from(18u64)),
        misses: 1,
        active_from: Window(3),
        active_until: Some(Window(9)),
    }
}

fn rollup_info() -> RollupInfo {
    RollupInfo {
        chain_id: ChainId::from(0x65u64),
        admin: Address::repeat_byte(0xad),
        min_bond: U256::from(10u64).pow(U256::from(17u64)),
        sequencer_count: 3,
        inbox: Some(Address::repeat_byte(0x1b)),
    }
}

fn block(byte: u8) -> BlockRef {
    BlockRef { number: u64::from(byte), hash: B256::repeat_byte(byte) }
}

fn entry() -> ScheduleEntry {
    ScheduleEntry {
        slot: Slot(40),
        window: Window(5),
        sequencer: Some(sequencer_info()),
        anchor: block(3),
        status: EntryStatus::Safe,
    }
}

fn status() -> LookaheadStatus {
    LookaheadStatus {
        engine: EngineStatus {
            head: Some(HeadStatus { number: 9, hash: B256::repeat_byte(9), slot: Some(Slot(9)) }),
            safe: Some(block(7)),
            finalized: Some(block(5)),
            registry: Address::repeat_byte(0x11),
            window_slots: 8,
            fixed_until_slot: Some(Slot(47)),
            rollups: vec![ChainId::from(0x65u64)],
            reorgs: ReorgStatus { count: 1, deepest: 2 },
        },
        stale: false,
    }
}

fn promise() -> Promise {
    Promise {
        chain_id: ChainId::from(0x65u64),
        slot: Slot(40),
        tx_hashes: vec![B256::repeat_byte(4)],
        bundle_id: B256::repeat_byte(5),
        signer: Address::repeat_byte(2),
        signature: Signature::new(U256::from(1u8), U256::from(2u8), false),
    }
}

fn value(sample: impl Serialize) -> Value {
    serde_json::to_value(sample).expect("samples serialize")
}

/// A method's sample result, and samples of the request objects it takes, by parameter name.
type Sample = (Value, Vec<(&'static str, Value)>);

/// A sample result of every documented method, and a sample of its request object if it
/// takes one.
fn samples() -> BTreeMap<&'static str, Sample> {
    let chain_id = ChainId::from(0x65u64);
    let cross = CrossScheduleEntry {
        slot: Slot(40),
        entries: [(chain_id, entry())].into_iter().collect(),
        shared_operator: Some(Address::repeat_byte(1)),
    };
    let lock = LockRequest {
        chain_id,
        slot: Slot(40),
        txs: vec![Bytes::from_static(&[2, 0xc0])],
        bundle_id: B256::repeat_byte(5),
        ttl_ms: Some(500),
    };
    let commit = CommitRequest {
        slot: Slot(40),
        legs: vec![Leg { chain_id, txs: vec![Bytes::from_static(&[2, 0xc0])] }],
        bundle_id: B256::repeat_byte(5),
    };
    let bundle = BundleRequest {
        txs: vec![BundleTx { chain_id, raw_tx: Bytes::from_static(&[2, 0xc0]) }],
        slot: Some(Slot(40)),
        mode: BundleMode::BestEffort,
    };
    let receipt = BundleReceipt {
        bundle_id: B256::repeat_byte(5),
        slot: Slot(40),
        promises: vec![promise()],
        failed: vec![FailedLeg {
            chain_id,
            sequencer: Some(Address::repeat_byte(1)),
            code: preconf_api::CAPACITY,
            message: "slot full".into(),
        }],
    };
    BTreeMap::from([
        ("lookahead_status", (value(status()), vec![])),
        ("lookahead_getSchedule", (value(vec![entry()]), vec![])),
        ("lookahead_getSequencer", (value(entry()), vec![])),
        ("lookahead_getSequencers", (value(vec![sequencer_info()]), vec![])),
        ("lookahead_getRollup", (value(rollup_info()), vec![])),
        ("lookahead_getCrossSchedule", (value(vec![cross]), vec![])),
        ("lookahead_nextSharedSlot", (value(Some(Slot(40))), vec![])),
        ("lookahead_naive", (value(vec![Some(sequencer_info()), None]), vec![])),
        ("lookahead_subscribe", (json!("0x1234"), vec![])),
        ("lookahead_unsubscribe", (json!(true), vec![])),
        (
            "preconf_lock",
            (
                value(LockReceipt { lock_id: B256::repeat_byte(6), expires_at: 1 }),
                vec![("request", value(lock))],
            ),
        ),
        ("preconf_confirm", (value(promise()), vec![])),
        ("preconf_release", (json!(true), vec![])),
        ("preconf_getPromises", (value(vec![promise()]), vec![])),
        ("preconf_lockAndConfirm", (value(vec![promise()]), vec![("request", value(commit))])),
        ("gateway_sendBundle", (value(receipt), vec![("request", value(bundle))])),
        ("watch_submitPromise", (json!(true), vec![("promise", value(promise()))])),
        (openrpc::DISCOVER, (document(), vec![])),
    ])
}

/// Checks `value` against `schema`; pushes what differs to `problems` and the component
/// schemas it went through to `seen`.
struct Checker<'a> {
    document: &'a Value,
    problems: Vec<String>,
    seen: BTreeSet<String>,
}

impl<'a> Checker<'a> {
    fn resolve(&mut self, mut schema: &'a Value) -> &'a Value {
        let document = self.document;
        while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference.strip_prefix("#/components/schemas/").expect("a schema ref");
            self.seen.insert(name.to_owned());
            schema = &document["components"]["schemas"][name];
            assert!(!schema.is_null(), "{reference} is not defined");
        }
        schema
    }

    fn check(&mut self, schema: &'a Value, value: &Value, path: &str) {
        let schema = self.resolve(schema);
        if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
            let mut errors = Vec::new();
            for branch in branches {
                let mut sub = Checker {
                    document: self.document,
                    problems: Vec::new(),
                    seen: BTreeSet::new(),
                };
                sub.check(branch, value, path);
                if sub.problems.is_empty() {
                    self.seen.extend(sub.seen);
                    return;
                }
                errors.extend(sub.problems);
            }
            self.problems.push(format!("{path}: matches no oneOf branch: {errors:?}"));
            return;
        }
        if let Some(variants) = schema.get("enum").and_then(Value::as_array) {
            if !variants.contains(value) {
                self.problems.push(format!("{path}: {value} is not in {variants:?}"));
            }
            return;
        }
        let kind = schema.get("type").and_then(Value::as_str);
        let fits = match kind {
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("string") => value.is_string(),
            Some("boolean") => value.is_boolean(),
            Some("null") => value.is_null(),
            other => panic!("{path}: schema without a known type: {other:?} in {schema}"),
        };
        if !fits {
            self.problems.push(format!("{path}: {value} is not of type {kind:?}"));
            return;
        }
        if let (Some(pattern), Some(text)) =
            (schema.get("pattern").and_then(Value::as_str), value.as_str())
            && pattern.starts_with("^0x")
            && !text.starts_with("0x")
        {
            self.problems.push(format!("{path}: {text} is not 0x-hex"));
        }
        if let (Some(properties), Some(object)) =
            (schema.get("properties").and_then(Value::as_object), value.as_object())
        {
            let documented: BTreeSet<&String> = properties.keys().collect();
            let serialized: BTreeSet<&String> = object.keys().collect();
            if documented != serialized {
                self.problems.push(format!(
                    "{path}: the code serializes {serialized:?}, the document lists {documented:?}"
                ));
            }
            for (name, field) in object {
                if let Some(property) = properties.get(name) {
                    self.check(property, field, &format!("{path}.{name}"));
                }
            }
        }
        if let (Some(items), Some(object)) = (schema.get("additionalProperties"), value.as_object())
            && items.is_object()
        {
            for (name, field) in object {
                self.check(items, field, &format!("{path}[{name}]"));
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (index, item) in array.iter().enumerate() {
                self.check(items, item, &format!("{path}[{index}]"));
            }
        }
    }
}

#[test]
fn every_result_and_request_has_exactly_the_fields_the_code_serializes() {
    let document = document();
    let samples = samples();
    assert_eq!(
        samples.keys().map(|name| (*name).to_owned()).collect::<BTreeSet<_>>(),
        method_names(&document),
        "a sample result for every documented method"
    );
    let mut checker = Checker { document: &document, problems: Vec::new(), seen: BTreeSet::new() };
    for method in document["methods"].as_array().expect("methods") {
        let name = method["name"].as_str().expect("name");
        let (result, requests) = &samples[name];
        checker.check(&method["result"]["schema"], result, &format!("{name} result"));
        for (param, sample) in requests {
            let schema = method["params"]
                .as_array()
                .expect("params")
                .iter()
                .find(|p| p["name"] == *param)
                .unwrap_or_else(|| panic!("{name} documents param {param}"));
            checker.check(&schema["schema"], sample, &format!("{name}({param})"));
        }
        if let Some(notification) = method.get("x-notification") {
            let change = ScheduleNotification {
                kind: ChangeKind::Reorged,
                chain_id: ChainId::from(0x65u64),
                from_slot: Slot(40),
                entries: vec![entry()],
            };
            checker.check(notification, &value(change), &format!("{name} notification"));
        }
    }
    assert!(
        checker.problems.is_empty(),
        "the document differs from the code:\n{:#?}",
        checker.problems
    );
    let defined: BTreeSet<String> =
        document["components"]["schemas"].as_object().expect("schemas").keys().cloned().collect();
    let unused: Vec<_> = defined.difference(&checker.seen).collect();
    assert!(unused.is_empty(), "schemas no sample goes through (stale?): {unused:?}");
}

#[test]
fn enums_list_every_variant() {
    let document = document();
    let schemas = &document["components"]["schemas"];
    let listed =
        |name: &str| -> Vec<Value> { schemas[name]["enum"].as_array().expect("an enum").clone() };
    let statuses = [EntryStatus::Latest, EntryStatus::Safe, EntryStatus::Finalized];
    assert_eq!(listed("EntryStatus"), statuses.iter().map(value).collect::<Vec<_>>());
    let kinds = [ChangeKind::Extended, ChangeKind::Reorged, ChangeKind::Endpoint];
    assert_eq!(listed("ChangeKind"), kinds.iter().map(value).collect::<Vec<_>>());
    let modes = [BundleMode::Atomic, BundleMode::BestEffort];
    assert_eq!(listed("BundleMode"), modes.iter().map(value).collect::<Vec<_>>());
}

#[test]
fn error_codes_are_the_codes_constants() {
    let document = document();
    let errors = document["components"]["errors"].as_object().expect("errors");
    let documented: BTreeSet<i64> =
        errors.values().map(|error| error["code"].as_i64().expect("a code")).collect();
    let code: BTreeSet<i64> = [
        INVALID_PARAMS_CODE,
        api::UNKNOWN_ROLLUP,
        api::BEYOND_HORIZON,
        api::TOO_OLD,
        api::NOT_SYNCED,
        preconf_api::NOT_SELECTED,
        preconf_api::SLOT_PAST,
        preconf_api::SLOT_BEYOND_HORIZON,
        preconf_api::INVALID_TX,
        preconf_api::WRONG_CHAIN,
        preconf_api::CAPACITY,
        preconf_api::BAD_TTL,
        preconf_api::QUOTA,
        preconf_api::UNKNOWN_LOCK,
        preconf_api::LOCK_EXPIRED,
        preconf_api::NOT_SERVED,
        preconf_api::LOOKAHEAD_UNAVAILABLE,
        preconf_api::INTERNAL,
        preconf_api::DUPLICATE_TX,
        preconf_api::BUNDLE_FAILED,
        preconf_api::UNDERBONDED,
        preconf_api::RATE_LIMITED,
        preconf_api::ENDPOINT_REFUSED,
        watch_api::INVALID_PROMISE,
        watch_api::UNAVAILABLE,
        watch_api::INTERNAL,
        watch_api::RATE_LIMITED,
    ]
    .into_iter()
    .map(i64::from)
    .collect();
    assert_eq!(documented, code);
    let too_large = format!("more than {} transaction hashes", watch_api::MAX_PROMISE_TX_HASHES);
    let invalid_promise = errors["InvalidPromise"]["message"].as_str().expect("a message");
    assert!(invalid_promise.contains(&too_large), "the document says {too_large}");
    for method in document["methods"].as_array().expect("methods") {
        for error in method["errors"].as_array().expect("errors") {
            let reference = error["$ref"].as_str().expect("errors are refs");
            let name = reference.strip_prefix("#/components/errors/").expect("an error ref");
            assert!(errors.contains_key(name), "{} lists undefined {reference}", method["name"]);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rpc_discover_serves_the_lookahead_namespace_of_the_document() {
    let (addr, server) =
        sequencer_lookahead::rpc::server::serve("127.0.0.1:0".parse().unwrap(), engine())
            .await
            .unwrap();
    let client = reqwest::Client::new();
    let response = client
        .post(format!("http://{addr}"))
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"rpc.discover","params":[]}"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let response: Value = serde_json::from_str(&response).unwrap();
    let served = &response["result"];
    assert_eq!(*served, openrpc::document(&["lookahead"]).unwrap());
    let names = method_names(served);
    let mut expected: BTreeSet<String> =
        api::METHOD_NAMES.iter().map(|name| (*name).to_owned()).collect();
    expected.insert(openrpc::DISCOVER.to_owned());
    assert_eq!(names, expected);
    assert_eq!(served["components"], document()["components"]);
    server.stop().unwrap();
}

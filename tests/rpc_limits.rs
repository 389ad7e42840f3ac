//! The `lookahead_` server holds up against hostile clients, on real HTTP and WebSocket
//! servers: chain-id lists are capped (-32602 naming the cap and the count, even for 100,000
//! ids) and de-duplicated; requests over the size limit, responses over theirs, batches over
//! the batch limit, connections over the connection limit and subscriptions over the
//! per-connection limit are refused while the server keeps answering; a burst of heavy
//! queries does not hold up another client's `lookahead_status`, `getSequencer` or
//! `getSchedule` (cached or not); one address is served a few requests at a time, the rest of
//! them waiting in line while other addresses are served. Every subscriber, filtered or not,
//! gets the same notification JSON.
//!
//! Nothing here asserts how fast anything is: only what is refused, what is answered, and in
//! which order.

mod common;

use common::{
    chain::{self, BlockSpec, GENESIS, REGISTRY},
    hostile::{RawHttp, loopback, slow_request},
};
use jsonrpsee::{
    core::{
        ClientError,
        client::{ClientT, Subscription, SubscriptionClientT},
    },
    rpc_params,
    server::ServerHandle,
    ws_client::{WsClient, WsClientBuilder},
};
use sequencer_lookahead::{
    Block, Engine, EngineConfig, SlotClock, Store,
    rpc::{
        self,
        api::MAX_CHAIN_IDS,
        openrpc,
        server::{ServeOptions, ServerLimits},
    },
    service::shared::SharedEngine,
};
use serde_json::{Value, json};
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

/// Rollups 0x1..=0x40 (as many as one list may name), each with three of six operators.
const ROLLUPS: u64 = MAX_CHAIN_IDS as u64;

/// An engine synced over `windows` windows of `window_slots` slots, with [`ROLLUPS`] rollups.
fn synced_engine(window_slots: u64, windows: u64) -> Engine {
    let clock = SlotClock::new(GENESIS, 12, window_slots).expect("non-zero timing");
    let mut engine = Engine::new(EngineConfig { registry: REGISTRY, deployment_block: 1, clock });
    engine.apply(&chain::committed(&history(window_slots, windows))).expect("a valid stream");
    engine
}

/// `windows` windows of `window_slots` one-slot blocks; the first registers [`ROLLUPS`] rollups.
fn history(window_slots: u64, windows: u64) -> Vec<Block> {
    let blocks = usize::try_from(window_slots * windows).unwrap();
    let mut specs = vec![BlockSpec { gap: 12, ..Default::default() }; blocks];
    specs[0].events = (1..=ROLLUPS)
        .flat_map(|chain_id| {
            let operators = [chain_id % 6, (chain_id + 1) % 6, (chain_id + 3) % 6];
            let sequencers = operators.into_iter().zip(0..).map(move |(operator, index)| {
                chain::sequencer(chain_id, index, u8::try_from(operator).unwrap() + 1, 0)
            });
            std::iter::once(chain::rollup(chain_id)).chain(sequencers)
        })
        .collect();
    chain::extend(None, 1, &specs, 0)
}

/// Serves `engine` on a free port within `limits`.
async fn serve(engine: Engine, limits: ServerLimits) -> (SocketAddr, ServerHandle) {
    let shared = SharedEngine::new(engine);
    let options = ServeOptions { ui: false, limits };
    rpc::server::serve_with("127.0.0.1:0".parse().unwrap(), shared, options).await.unwrap()
}

/// Posts `body`; the HTTP status and the body.
async fn post(client: &reqwest::Client, addr: SocketAddr, body: String) -> (u16, String) {
    let response = client
        .post(format!("http://{addr}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// Calls `method` with `params` over HTTP; the JSON-RPC answer.
async fn call(client: &reqwest::Client, addr: SocketAddr, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let (_, text) = post(client, addr, body.to_string()).await;
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

fn hex(chain_id: u64) -> String {
    format!("{chain_id:#x}")
}

fn status_call() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "lookahead_status", "params": []})
}

async fn ws(addr: SocketAddr) -> Result<WsClient, ClientError> {
    WsClientBuilder::default().build(format!("ws://{addr}")).await
}

async fn subscribe(client: &WsClient) -> Result<Subscription<Value>, ClientError> {
    client.subscribe("lookahead_subscribe", rpc_params!["schedule"], "lookahead_unsubscribe").await
}

async fn status_over(ws: &WsClient) -> Value {
    ws.request("lookahead_status", rpc_params![]).await.expect("status answers")
}

#[tokio::test(flavor = "multi_thread")]
async fn chain_id_lists_are_capped_and_repeats_served_once() {
    let (addr, server) = serve(synced_engine(4, 12), ServerLimits::default()).await;
    let client = reqwest::Client::new();

    let hundred_thousand = vec![hex(1); 100_000];
    let one_over: Vec<String> = (1..=ROLLUPS + 1).map(hex).collect();
    let all: Vec<String> = (1..=ROLLUPS).map(hex).collect();
    for method in ["lookahead_getCrossSchedule", "lookahead_nextSharedSlot"] {
        let answer = call(&client, addr, method, json!([hundred_thousand])).await;
        assert_eq!(answer["error"]["code"], -32602, "{method}: {answer}");
        assert_eq!(
            answer["error"]["message"],
            format!("100000 chain ids given, at most {MAX_CHAIN_IDS} allowed"),
            "{method}: the message names the count and the cap"
        );
        let answer = call(&client, addr, method, json!([one_over])).await;
        assert_eq!(answer["error"]["code"], -32602, "{method}: one over the cap: {answer}");
        let answer = call(&client, addr, method, json!([all])).await;
        assert!(answer.get("result").is_some(), "{method}: exactly the cap is served: {answer}");
    }

    let cross =
        |ids: Value| call(&client, addr, "lookahead_getCrossSchedule", json!([ids, null, 8]));
    let distinct = cross(json!(["0x1", "0x2"])).await;
    let repeated = cross(json!(["0x1", "0x2", "0x1", "0x2", "0x1"])).await;
    let slots = distinct["result"].as_array().expect("a result");
    assert!(
        !slots.is_empty()
            && slots.iter().all(|slot| slot["entries"].as_object().unwrap().len() == 2)
    );
    assert_eq!(repeated["result"], distinct["result"], "a repeated id is served once");
    // A list of the cap's length made of one id is one rollup's schedule.
    let single = cross(json!(["0x1"])).await;
    let same = cross(json!(vec![hex(1); MAX_CHAIN_IDS])).await;
    assert_eq!(same["result"], single["result"]);

    let next = |ids: Value| call(&client, addr, "lookahead_nextSharedSlot", json!([ids]));
    let distinct = next(json!(["0x1", "0x3"])).await;
    assert!(distinct.get("result").is_some(), "{distinct}");
    assert_eq!(next(json!(["0x3", "0x1", "0x3", "0x3"])).await["result"], distinct["result"]);

    let ws = ws(addr).await.unwrap();
    let refused = ws
        .subscribe::<Value, _>(
            "lookahead_subscribe",
            rpc_params!["schedule", vec![hex(1); 1_000]],
            "lookahead_unsubscribe",
        )
        .await
        .expect_err("a subscription to 1,000 chain ids is refused");
    assert!(
        refused.to_string().contains(&format!("1000 chain ids given, at most {MAX_CHAIN_IDS}")),
        "{refused}"
    );
    ws.subscribe::<Value, _>(
        "lookahead_subscribe",
        rpc_params!["schedule", vec![hex(1), hex(1), hex(2)]],
        "lookahead_unsubscribe",
    )
    .await
    .expect("repeated ids within the cap are accepted");
    server.stop().unwrap();
}

#[test]
fn the_document_states_the_cap() {
    let document: Value = serde_json::from_str(openrpc::DOCUMENT).unwrap();
    let methods = document["methods"].as_array().unwrap();
    let lists = [
        ("lookahead_getCrossSchedule", 0),
        ("lookahead_nextSharedSlot", 0),
        ("lookahead_subscribe", 1),
    ];
    for (name, param) in lists {
        let method = methods.iter().find(|method| method["name"] == name).unwrap();
        let schema = method["params"][param]["schema"].to_string();
        assert!(schema.contains(&format!("\"maxItems\":{MAX_CHAIN_IDS}")), "{name}: {schema}");
        assert!(method["errors"].to_string().contains("TooManyChainIds"), "{name}");
    }
    let error = &document["components"]["errors"]["TooManyChainIds"];
    assert_eq!(error["code"], -32602);
    assert!(error["message"].as_str().unwrap().contains(&MAX_CHAIN_IDS.to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_requests_and_responses_are_refused_and_the_server_lives() {
    let limits =
        ServerLimits { max_request_size: 4096, max_response_size: 2048, ..Default::default() };
    let (addr, server) = serve(synced_engine(4, 12), limits).await;
    let client = reqwest::Client::new();

    let ids = vec![hex(1); 1_000];
    let body =
        json!({"jsonrpc": "2.0", "id": 1, "method": "lookahead_getCrossSchedule", "params": [ids]});
    let (status, text) = post(&client, addr, body.to_string()).await;
    assert_eq!(status, 413, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["error"]["code"], -32007, "a JSON-RPC error too: {answer}");

    let answer = call(&client, addr, "lookahead_getSchedule", json!(["0x1", null, 1024])).await;
    assert_eq!(answer["error"]["code"], -32008, "a response over the limit: {answer}");
    let answer =
        call(&client, addr, "lookahead_getCrossSchedule", json!([["0x1", "0x2"], null, 1024]))
            .await;
    assert_eq!(answer["error"]["code"], -32008, "a heavy response over the limit: {answer}");

    let (status, text) = post(&client, addr, status_call().to_string()).await;
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&text).unwrap()["result"]["head"].is_object(), "{text}");
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_over_the_limit_are_refused() {
    let limits = ServerLimits { max_batch_size: 3, ..Default::default() };
    let (addr, server) = serve(synced_engine(4, 12), limits).await;
    let client = reqwest::Client::new();

    let batch = |size: usize| Value::Array(vec![status_call(); size]).to_string();
    let (_, text) = post(&client, addr, batch(4)).await;
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["error"]["code"], -32010, "a batch over the limit: {answer}");
    let (_, text) = post(&client, addr, batch(3)).await;
    let answers: Value = serde_json::from_str(&text).unwrap();
    let answers = answers.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 3);
    assert!(answers.iter().all(|answer| answer["result"]["head"].is_object()), "{answers:?}");
    server.stop().unwrap();

    let limits = ServerLimits { max_batch_size: 0, ..Default::default() };
    let (addr, server) = serve(synced_engine(4, 12), limits).await;
    let (_, text) = post(&client, addr, batch(1)).await;
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["error"]["code"], -32005, "batches refused: {answer}");
    let (_, text) = post(&client, addr, status_call().to_string()).await;
    assert!(serde_json::from_str::<Value>(&text).unwrap()["result"].is_object());
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_over_the_limit_are_refused_while_clients_are_answered() {
    let limits = ServerLimits { max_connections: 2, ..Default::default() };
    let (addr, server) = serve(synced_engine(4, 12), limits).await;
    let first = ws(addr).await.unwrap();
    let second = ws(addr).await.unwrap();

    let refused = ws(addr).await.expect_err("a third WebSocket connection is refused");
    assert!(refused.to_string().contains("429"), "{refused}");
    let client = reqwest::Client::new();
    let (status, _) = post(&client, addr, status_call().to_string()).await;
    assert_eq!(status, 429, "so is an HTTP request");

    assert!(status_over(&first).await["head"].is_object(), "existing clients are answered");
    assert!(status_over(&second).await["head"].is_object());

    drop(second);
    // The server frees the connection once it sees it closed.
    let mut third = None;
    for _ in 0..200 {
        if let Ok(client) = ws(addr).await {
            third = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let third = third.expect("a connection is accepted once one closes");
    assert!(status_over(&third).await["head"].is_object());
    assert!(status_over(&first).await["head"].is_object());
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_per_connection_are_capped() {
    let limits = ServerLimits { max_subscriptions_per_connection: 2, ..Default::default() };
    let (addr, server) = serve(synced_engine(4, 12), limits).await;
    let client = ws(addr).await.unwrap();
    let _a = subscribe(&client).await.unwrap();
    let _b = subscribe(&client).await.unwrap();
    let refused = subscribe(&client).await.expect_err("a third subscription is refused");
    assert!(refused.to_string().contains("-32006"), "{refused}");
    assert!(status_over(&client).await["head"].is_object(), "the connection still answers");
    let other = ws(addr).await.unwrap();
    let _c = subscribe(&other).await.expect("another connection has its own allowance");
    server.stop().unwrap();
}

/// Heavy requests fired at once.
const HEAVY: usize = 50;

#[tokio::test(flavor = "multi_thread")]
async fn heavy_queries_do_not_hold_up_cheap_ones() {
    let limits = ServerLimits { heavy_queries: 1, ..Default::default() };
    let (addr, server) = serve(synced_engine(32, 8), limits).await;
    let client = reqwest::Client::new();
    // The cache of the schedule's windows is warm for rollup 0x1.
    let cached = call(&client, addr, "lookahead_getSchedule", json!(["0x1"])).await;
    assert!(cached["result"].as_array().is_some_and(|entries| !entries.is_empty()), "{cached}");
    let slot = cached["result"][0]["slot"].clone();

    let all: Vec<String> = (1..=ROLLUPS).map(hex).collect();
    let done = Arc::new(AtomicUsize::new(0));
    let heavy: Vec<_> = (0..HEAVY)
        .map(|i| {
            let (client, done) = (client.clone(), Arc::clone(&done));
            let (method, params) = match i % 3 {
                0 | 1 => ("lookahead_getCrossSchedule", json!([all, null, 64])),
                _ => ("lookahead_naive", json!([hex(1 + i as u64 % ROLLUPS), 1024])),
            };
            tokio::spawn(async move {
                let answer = call(&client, addr, method, params).await;
                done.fetch_add(1, Ordering::SeqCst);
                answer
            })
        })
        .collect();
    // Once one has been answered the others are at the server: in progress or waiting.
    while done.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Another client: the heavy callers' own further requests wait in their address's line.
    let other = reqwest::Client::builder().local_address(loopback(2)).build().unwrap();
    let status = call(&other, addr, "lookahead_status", json!([])).await;
    let after_status = done.load(Ordering::SeqCst);
    let sequencer = call(&other, addr, "lookahead_getSequencer", json!(["0x1", slot])).await;
    let schedule = call(&other, addr, "lookahead_getSchedule", json!(["0x1"])).await;
    // Rollup 0x2's windows are not cached: computed apart from the heavy queue.
    let uncached = call(&other, addr, "lookahead_getSchedule", json!(["0x2"])).await;
    let after_cheap = done.load(Ordering::SeqCst);

    for answer in futures::future::join_all(heavy).await {
        let answer = answer.unwrap();
        assert!(answer["result"].as_array().is_some_and(|result| !result.is_empty()), "{answer}");
    }
    assert!(status["result"]["head"].is_object(), "{status}");
    assert!(sequencer["result"]["slot"].is_number(), "{sequencer}");
    assert_eq!(schedule["result"], cached["result"]);
    assert!(uncached["result"].as_array().is_some_and(|entries| !entries.is_empty()), "{uncached}");
    assert!(
        after_status < HEAVY / 2 && after_cheap < HEAVY / 2,
        "the cheap calls were answered while most heavy ones waited: {after_status} and \
         {after_cheap} of {HEAVY} heavy answered before them"
    );
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn one_address_is_served_a_few_requests_at_a_time() {
    let limits = ServerLimits { max_running_per_ip: 2, ..Default::default() };
    let (addr, server) = serve(synced_engine(32, 8), limits).await;
    // Two requests whose body never ends take the address's two places.
    let mut held = vec![
        slow_request(loopback(1), addr, 1024).await.unwrap(),
        slow_request(loopback(1), addr, 1024).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut waiting = RawHttp::connect(loopback(1), addr).await.unwrap();
    let third =
        tokio::spawn(async move { waiting.call_raw(status_call().to_string().as_bytes()).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!third.is_finished(), "the address's third request waits in line");

    // Another address is served at once.
    let mut other = RawHttp::connect(loopback(2), addr).await.unwrap();
    let answer = other.call_raw(status_call().to_string().as_bytes()).await.unwrap();
    assert!(answer["result"]["head"].is_object(), "{answer}");
    assert!(!third.is_finished(), "still waiting");

    // One of the held requests ends (its client hangs up): the third is served.
    drop(held.pop());
    let answer = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("served once a place is free")
        .unwrap()
        .unwrap();
    assert!(answer["result"]["head"].is_object(), "{answer}");
    drop(held);
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_subscriber_gets_the_same_notification() {
    let dir = tempfile::tempdir().unwrap();
    let clock = SlotClock::new(GENESIS, 12, 4).expect("non-zero timing");
    let config = EngineConfig { registry: REGISTRY, deployment_block: 1, clock };
    let (mut store, engine) = Store::open(&dir.path().join("lookahead.redb"), config).unwrap();
    let shared = SharedEngine::new(engine);
    let blocks = history(4, 12);
    let (synced, next) = blocks.split_at(blocks.len() - 4);
    shared.apply(&chain::committed(synced), &mut store).unwrap();
    let options = ServeOptions { ui: false, limits: ServerLimits::default() };
    let (addr, server) =
        rpc::server::serve_with("127.0.0.1:0".parse().unwrap(), Arc::clone(&shared), options)
            .await
            .unwrap();

    let (a, b) = (ws(addr).await.unwrap(), ws(addr).await.unwrap());
    let mut all = subscribe(&a).await.unwrap();
    let mut all_again = subscribe(&b).await.unwrap();
    let mut only_two: Subscription<Value> = b
        .subscribe(
            "lookahead_subscribe",
            rpc_params!["schedule", [hex(2), hex(2)]],
            "lookahead_unsubscribe",
        )
        .await
        .unwrap();
    // A block that fixes a new window: one `extended` notification per rollup.
    shared.apply(&chain::committed(next), &mut store).unwrap();

    let mut notifications = Vec::new();
    for _ in 0..ROLLUPS {
        let first = all.next().await.unwrap().unwrap();
        assert_eq!(all_again.next().await.unwrap().unwrap(), first, "the same JSON for all");
        notifications.push(first);
    }
    let two = only_two.next().await.unwrap().unwrap();
    assert_eq!(two["chainId"], "0x2", "the filtered subscriber gets its rollup's: {two}");
    assert_eq!(two["kind"], "extended");
    assert!(notifications.contains(&two), "and the same notification as everyone");
    server.stop().unwrap();
}

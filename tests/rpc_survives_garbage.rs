//! The RPC never panics or hangs on bad input: 10,000 generated requests — malformed JSON,
//! unknown methods, wrong types, negative, huge and fractional numbers, unknown rollups, slots
//! far in the past and future, oversized counts, batches — against a running HTTP server. Every
//! answer is a JSON-RPC result or one of the spec's errors, and the server still answers after.

mod common;

use common::chain::{self, BlockSpec};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sequencer_lookahead::{Engine, rpc, service::shared::SharedEngine};
use serde_json::{Value, json};
use std::{sync::Arc, time::Duration};

const REQUESTS: usize = 10_000;
/// Parse error, invalid request, method not found, invalid params, and the spec's codes.
const ALLOWED_CODES: [i64; 8] = [-32700, -32600, -32601, -32602, -39001, -39002, -39003, -39004];

fn synced_engine() -> Engine {
    let mut specs = vec![BlockSpec { gap: 12, ..Default::default() }; 40];
    specs[0].events =
        vec![chain::rollup(10), chain::sequencer(10, 0, 1, 0), chain::sequencer(10, 1, 2, 0)];
    let blocks = chain::extend(None, 1, &specs, 0);
    let mut engine = Engine::new(chain::config(1));
    engine.apply(&chain::committed(&blocks)).unwrap();
    engine
}

fn value(rng: &mut StdRng) -> Value {
    match rng.random_range(0..16) {
        0 => json!(null),
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random_range(0..60u64)),
        3 => json!(-rng.random_range(1..1_000_000i64)),
        4 => json!(u64::MAX),
        5 => json!(rng.random::<f64>() * 100.0),
        6 => json!("0xa"),
        7 => json!(format!("0x{}", "f".repeat(rng.random_range(1..80)))),
        8 => json!("not hex at all"),
        9 => json!(["0xa", "0x14"]),
        10 => json!([rng.random::<u32>(), "0xa"]),
        11 => json!({"chainId": "0xa"}),
        12 => json!("schedule"),
        13 => json!(1e300),
        14 => json!("x".repeat(rng.random_range(0..10_000))),
        _ => json!(rng.random_range(0..2_000u64)),
    }
}

fn request(rng: &mut StdRng, id: usize) -> String {
    let methods = rpc::api::METHOD_NAMES.len();
    let method = rpc::api::METHOD_NAMES
        .get(rng.random_range(0..=methods))
        .unwrap_or(&"lookahead_nonexistent");
    let params: Value = match rng.random_range(0..5) {
        0 => json!([]),
        1 => json!({"unexpected": value(rng)}),
        _ => Value::Array((0..rng.random_range(1..5)).map(|_| value(rng)).collect()),
    };
    let call = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    match rng.random_range(0..20) {
        0 => {
            let text = call.to_string();
            text[..rng.random_range(0..text.len())].to_string()
        }
        1 => (0..rng.random_range(0..64)).map(|_| rng.random_range(32u8..127) as char).collect(),
        2 => json!([call, call]).to_string(),
        3 => json!({"jsonrpc": "2.0", "id": id, "method": 7}).to_string(),
        _ => call.to_string(),
    }
}

/// jsonrpsee answers (un)subscribing over plain HTTP with -32603: subscriptions need WebSocket.
const SUBSCRIPTION_OVER_HTTP: i64 = -32603;

fn check(request: &str, answer: &Value) {
    match answer {
        Value::Array(answers) => answers.iter().for_each(|answer| check(request, answer)),
        Value::Object(object) if object.contains_key("result") => {}
        Value::Object(object) => {
            let code = object["error"]["code"].as_i64().expect("an error has a code");
            let subscription = code == SUBSCRIPTION_OVER_HTTP && request.contains("subscribe\"");
            assert!(ALLOWED_CODES.contains(&code) || subscription, "{request} got {answer}");
        }
        other => panic!("not a JSON-RPC answer: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_is_a_result_or_a_specified_error() {
    let shared = SharedEngine::new(synced_engine());
    let (addr, server) =
        rpc::server::serve("127.0.0.1:0".parse().unwrap(), Arc::clone(&shared)).await.unwrap();
    let url = format!("http://{addr}");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut rng = StdRng::seed_from_u64(42);
    let bodies: Vec<String> = (0..REQUESTS).map(|id| request(&mut rng, id)).collect();

    let mut answered = 0;
    for chunk in bodies.chunks(16) {
        let answers = futures::future::join_all(chunk.iter().map(|body| {
            client.post(&url).header("content-type", "application/json").body(body.clone()).send()
        }))
        .await;
        for (body, answer) in chunk.iter().zip(answers) {
            let answer = answer.expect("the server answers in time");
            let text = answer.text().await.expect("a body");
            let json: Value =
                serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
            check(body, &json);
            answered += 1;
        }
    }
    assert_eq!(answered, REQUESTS);

    let status: Value = client
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"lookahead_status","params":[]}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(status["result"]["head"]["number"].is_number(), "still serving: {status}");
    server.stop().unwrap();
}

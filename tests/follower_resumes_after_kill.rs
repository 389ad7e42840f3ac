//! `lookahead follow` killed with SIGKILL and restarted on the same datadir resumes from its
//! persisted head — no backfill from the deployment block — and then serves the same schedule
//! as a fresh follower of the same node.

mod common;

use common::anvil::{Devnet, free_port};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use sequencer_lookahead::{
    ChainId,
    devnet::SAMPLE_ROLLUPS,
    rpc::api::{LookaheadApiClient, LookaheadStatus},
};
use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// A `lookahead follow` process and a client of its RPC.
struct Follow {
    child: Child,
    client: HttpClient,
    log: std::path::PathBuf,
}

impl Follow {
    fn start(devnet: &Devnet, datadir: &Path) -> Self {
        let port = free_port();
        let log = datadir.with_extension(format!("{port}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_lookahead"))
            .args(["follow", "--rpc-url", &devnet.anvil.url])
            .args(["--registry", &devnet.config.registry.to_string()])
            .args(["--from-block", &devnet.config.deployment_block.to_string()])
            .args(["--chain", "dev", "--poll-ms", "100"])
            .args(["--datadir", datadir.to_str().unwrap()])
            .args(["--http.port", &port.to_string()])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("lookahead follow starts");
        let client =
            HttpClientBuilder::default().build(format!("http://127.0.0.1:{port}")).unwrap();
        Self { child, client, log }
    }

    /// Waits until the follower has processed the node's head and finalized block.
    async fn synced_to(&self, devnet: &Devnet) -> LookaheadStatus {
        let head = devnet.head().await;
        let finalized = devnet.finalized().await;
        for _ in 0..200 {
            if let Ok(status) = self.client.status().await
                && status.engine.head.is_some_and(|h| h.number == head)
                && status.engine.finalized.map(|f| f.number) == finalized
            {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "follower did not reach block {head}: {}",
            std::fs::read_to_string(&self.log).unwrap()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first block of the first "fetching blocks" line of a follower's log.
fn first_fetch(log: &str) -> Option<u64> {
    let line = log.lines().find(|line| line.contains("fetching blocks"))?;
    line.split_whitespace().find_map(|word| word.strip_prefix("from=")).and_then(|n| n.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkilled_follower_resumes_from_its_head_and_matches_a_fresh_one() {
    let mut devnet = Devnet::start().await;
    devnet.mine_slots(24, |slot| slot % 5 == 0).await;
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("resumed");

    let mut first = Follow::start(&devnet, &datadir);
    let head = first.synced_to(&devnet).await.engine.head.unwrap().number;
    assert_eq!(first_fetch(&first.log()), Some(devnet.config.deployment_block));
    first.child.kill().expect("SIGKILL");
    first.child.wait().unwrap();

    devnet.mine_slots(12, |_| false).await;
    let second = Follow::start(&devnet, &datadir);
    second.synced_to(&devnet).await;
    let log = second.log();
    assert!(log.contains("resuming from the database"), "{log}");
    assert_eq!(first_fetch(&log), Some(head + 1), "resumes after the persisted head: {log}");

    let fresh = Follow::start(&devnet, &dir.path().join("fresh"));
    fresh.synced_to(&devnet).await;
    for chain_id in SAMPLE_ROLLUPS.map(ChainId::from) {
        let resumed =
            second.client.get_schedule(chain_id, None, Some(1024)).await.unwrap().decode().unwrap();
        let expected =
            fresh.client.get_schedule(chain_id, None, Some(1024)).await.unwrap().decode().unwrap();
        assert!(!expected.is_empty());
        assert_eq!(resumed, expected, "rollup {chain_id}");
    }
    drop((second, fresh));
    devnet.anvil.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn follower_serves_its_last_state_while_the_node_is_away_and_stops_on_ctrl_c() {
    let mut devnet = Devnet::start().await;
    devnet.mine_slots(24, |_| false).await;
    let dir = tempfile::tempdir().unwrap();
    let mut follow = Follow::start(&devnet, &dir.path().join("data"));
    let status = follow.synced_to(&devnet).await;
    assert!(!status.stale);
    let rollup = ChainId::from(SAMPLE_ROLLUPS[0]);
    let before =
        follow.client.get_schedule(rollup, None, Some(64)).await.unwrap().decode().unwrap();

    devnet.anvil.stop().await;
    let mut stale = false;
    for _ in 0..100 {
        if follow.client.status().await.unwrap().stale {
            stale = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stale, "status says stale once the node is gone: {}", follow.log());
    let during =
        follow.client.get_schedule(rollup, None, Some(64)).await.unwrap().decode().unwrap();
    assert_eq!(during, before, "the last state is still served");
    assert!(follow.log().contains("sync failed"), "the failure is logged with its retry");

    let interrupted = Command::new("kill").args(["-INT", &follow.child.id().to_string()]).status();
    assert!(interrupted.unwrap().success());
    let exit = follow.child.wait().unwrap();
    assert!(exit.success(), "Ctrl-C exits 0, got {exit}: {}", follow.log());
}

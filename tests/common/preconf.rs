//! A preconfirmation network of real processes on loopback: `lookahead devnet` (anvil, the
//! registry with sample rollups and sequencers, the lookahead RPC), one `lookahead sequencer`
//! per sample operator at its registered endpoint, and `lookahead gateway`s.

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::Encodable2718,
    network::TxSignerSync,
    signers::local::PrivateKeySigner,
};
use alloy_primitives::{Address, Bytes, TxKind, U256, hex};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use sequencer_lookahead::{
    ChainId, RegistryDomain, Slot,
    devnet::{self, SAMPLE_OPERATORS, SAMPLE_ROLLUPS},
    rpc::api::{CrossScheduleEntry, LookaheadApiClient},
};
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// Gas one slot holds per rollup at every sample sequencer: four 21,000-gas transfers.
pub const SLOT_GAS: u64 = 100_000;

/// A child process, killed when dropped; its stderr goes to a log file.
pub struct Process {
    child: Child,
    log: PathBuf,
    /// The JSON line it printed when ready.
    pub ready: serde_json::Value,
}

/// jemalloc's options for a test that measures the servers' memory: freed pages go back to the
/// kernel at once, so resident memory is what a server holds, not what its allocator keeps for
/// reuse (the binary's own options keep it for up to a minute).
pub const PURGE_AT_ONCE: &str = "dirty_decay_ms:0,muzzy_decay_ms:0";

impl Process {
    /// Runs `lookahead <args>` and waits (up to 60 s) for its ready line on stdout. Its log
    /// level is `LOOKAHEAD_TEST_LOG` (default `info`), e.g. `info,sequencer_lookahead=debug`;
    /// `malloc_conf`, if any, overrides the binary's jemalloc options (`_RJEM_MALLOC_CONF`).
    pub fn lookahead(args: &[String], log: PathBuf, malloc_conf: Option<&str>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lookahead"));
        command
            .args(args)
            .env("RUST_LOG", std::env::var("LOOKAHEAD_TEST_LOG").unwrap_or_else(|_| "info".into()));
        if let Some(conf) = malloc_conf {
            command.env("_RJEM_MALLOC_CONF", conf);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("lookahead starts");
        let stdout = child.stdout.take().unwrap();
        let (lines, ready) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let Ok(line) = ready.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!("{args:?} printed no ready line: {}", std::fs::read_to_string(&log).unwrap());
        };
        let ready = serde_json::from_str(&line).expect("the ready line is JSON");
        Self { child, log, ready }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The URL in its ready line.
    pub fn url(&self) -> String {
        self.ready["rpcUrl"].as_str().unwrap().to_owned()
    }

    /// A client of the RPC in its ready line (10 s timeout).
    pub fn client(&self) -> HttpClient {
        HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(10))
            .build(self.url())
            .unwrap()
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`, `INT`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGKILLs it and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERMs it and waits (up to 20 s) for it to exit; its exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        for _ in 0..400 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("it did not stop within 20 s of SIGTERM: {}", self.log());
    }
}

impl Drop for Process {
    /// SIGTERM first, so a devnet stops its anvil; SIGKILL if it is not gone within 5 s.
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The devnet, its lookahead and the sample sequencers.
pub struct PreconfNet {
    /// Working directory (keys, databases, logs).
    pub dir: tempfile::TempDir,
    /// `lookahead devnet`.
    pub devnet: Process,
    /// A client of its lookahead RPC.
    pub lookahead: HttpClient,
    /// The lookahead RPC URL.
    pub lookahead_url: String,
    /// anvil's URL.
    pub l1_url: String,
    /// The registry on anvil: the promises' EIP-712 domain.
    pub domain: RegistryDomain,
    /// Sample sequencer endpoints are `port_base + operator`.
    pub port_base: u16,
    /// The dev keys (index = dev account: operators 1–3, their signers 4–6).
    pub keys: Vec<PrivateKeySigner>,
    /// jemalloc's options for every process started ([`Process::lookahead`]).
    pub malloc_conf: Option<&'static str>,
}

impl PreconfNet {
    /// Starts the devnet with 1-second slots and 8-slot windows.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// [`Self::start`] for a test that measures the servers' memory: every process gives freed
    /// pages back at once ([`PURGE_AT_ONCE`]).
    pub fn start_measuring_memory() -> Self {
        Self::start_with(Some(PURGE_AT_ONCE))
    }

    fn start_with(malloc_conf: Option<&'static str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let anvil_port = super::anvil::free_port();
        let http_port = super::anvil::free_port();
        // Four consecutive free ports are likely around a free one well above the ephemeral
        // range's busiest part; the sequencers bind them later.
        let port_base = free_port_run(4);
        let anvil = Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts/node_modules/.bin/anvil");
        let args = [
            "devnet".to_owned(),
            format!("--anvil={}", anvil.display()),
            format!("--anvil-port={anvil_port}"),
            format!("--http.port={http_port}"),
            format!("--sequencer-port-base={port_base}"),
            format!("--datadir={}", dir.path().join("lookahead").display()),
            "--poll-ms=100".to_owned(),
        ];
        let devnet = Process::lookahead(&args, dir.path().join("devnet.log"), malloc_conf);
        let lookahead_url = devnet.url();
        let l1_url = devnet.ready["l1RpcUrl"].as_str().unwrap().to_owned();
        let domain = RegistryDomain::new(
            devnet.ready["l1ChainId"].as_u64().unwrap(),
            devnet.ready["registry"].as_str().unwrap().parse().unwrap(),
        );
        let lookahead = HttpClientBuilder::default().build(&lookahead_url).unwrap();
        let keys = devnet::dev_signers(devnet::DEV_ACCOUNTS);
        Self { dir, devnet, lookahead, lookahead_url, l1_url, domain, port_base, keys, malloc_conf }
    }

    /// The rollups operator `operator` sequences.
    pub fn rollups_of(operator: usize) -> Vec<u64> {
        SAMPLE_ROLLUPS
            .iter()
            .zip(SAMPLE_OPERATORS)
            .filter(|(_, operators)| operators.contains(&operator))
            .map(|(rollup, _)| *rollup)
            .collect()
    }

    /// Starts (or restarts, on the same database) the sequencer of dev account `operator`.
    pub fn sequencer(&self, operator: usize) -> Process {
        self.sequencer_with_gas(operator, SLOT_GAS)
    }

    /// [`Self::sequencer`] with `slot_gas` per rollup and slot.
    pub fn sequencer_with_gas(&self, operator: usize, slot_gas: u64) -> Process {
        self.sequencer_with(operator, slot_gas, &[])
    }

    /// [`Self::sequencer_with_gas`] with more flags (e.g. `--post-batches=false`).
    pub fn sequencer_with(&self, operator: usize, slot_gas: u64, extra: &[String]) -> Process {
        let key = self.dir.path().join(format!("key-{operator}"));
        let signer = &self.keys[devnet::sample_signer(operator)];
        std::fs::write(&key, hex::encode_prefixed(signer.to_bytes())).unwrap();
        let mut args = vec![
            "sequencer".to_owned(),
            format!("--key={}", key.display()),
            format!("--lookahead-rpc={}", self.lookahead_url),
            format!("--l1-rpc={}", self.l1_url),
            format!("--http.port={}", self.port_base + operator as u16),
            format!(
                "--datadir={}",
                self.dir.path().join(format!("sequencer-{operator}")).display()
            ),
            format!("--slot-gas={slot_gas}"),
        ];
        if !extra.iter().any(|arg| arg.starts_with("--caller-slot-share")) {
            // One test client (127.0.0.1) may use whole slots unless a test says otherwise.
            args.push("--caller-slot-share=100".to_owned());
        }
        args.extend(Self::rollups_of(operator).iter().map(|id| format!("--chain-id={id}")));
        args.extend_from_slice(extra);
        let log = self.dir.path().join(format!("sequencer-{operator}.log"));
        Process::lookahead(&args, log, self.malloc_conf)
    }

    /// A client of operator `operator`'s sequencer.
    pub fn sequencer_client(&self, operator: usize) -> HttpClient {
        HttpClientBuilder::default()
            .build(devnet::sample_endpoint(self.port_base, operator))
            .unwrap()
    }

    /// Starts a gateway with `ttl_ms` locks.
    pub fn gateway(&self, name: &str, ttl_ms: u64) -> Process {
        self.gateway_with(name, ttl_ms, &[])
    }

    /// [`Self::gateway`] with more flags (e.g. `--watcher=<url>`).
    pub fn gateway_with(&self, name: &str, ttl_ms: u64, extra: &[String]) -> Process {
        let mut args = vec![
            "gateway".to_owned(),
            format!("--lookahead-rpc={}", self.lookahead_url),
            format!("--l1-rpc={}", self.l1_url),
            format!("--http.port={}", super::anvil::free_port()),
            format!("--ttl-ms={ttl_ms}"),
        ];
        if !extra.iter().any(|arg| arg.starts_with("--allow-endpoint")) {
            // The sample sequencers are on loopback: dial any private endpoint unless a test
            // names the ones it allows.
            args.push("--allow-private-endpoints".to_owned());
        }
        args.extend_from_slice(extra);
        Process::lookahead(
            &args,
            self.dir.path().join(format!("gateway-{name}.log")),
            self.malloc_conf,
        )
    }

    /// The dev key the watchers send from ([`devnet::WATCHER_ACCOUNT`]).
    pub fn watcher_key(&self) -> PrivateKeySigner {
        devnet::dev_signers(devnet::WATCHER_ACCOUNT + 1)
            .swap_remove(devnet::WATCHER_ACCOUNT as usize)
    }

    /// Starts (or restarts, on the same database) `lookahead watch` named `name`, with the
    /// watcher key, `--allow-private-endpoints` (unless `extra` names `--allow-endpoint`s) and
    /// `extra` flags; each run of a name logs to a file of its own
    /// (`watcher-<name>-<run>.log`).
    pub fn watcher(&self, name: &str, extra: &[String]) -> Process {
        let key = self.dir.path().join("watcher-key");
        std::fs::write(&key, hex::encode_prefixed(self.watcher_key().to_bytes())).unwrap();
        let mut args = vec![
            "watch".to_owned(),
            format!("--lookahead-rpc={}", self.lookahead_url),
            format!("--l1-rpc={}", self.l1_url),
            format!("--key={}", key.display()),
            format!("--datadir={}", self.dir.path().join(format!("watcher-{name}")).display()),
            format!("--http.port={}", super::anvil::free_port()),
        ];
        if !extra.iter().any(|arg| arg.starts_with("--allow-endpoint")) {
            // The sample sequencers are on loopback: poll any private endpoint unless a test
            // names the ones it allows.
            args.push("--allow-private-endpoints".to_owned());
        }
        args.extend_from_slice(extra);
        let run = (0..)
            .find(|run| !self.dir.path().join(format!("watcher-{name}-{run}.log")).exists())
            .unwrap();
        let log = self.dir.path().join(format!("watcher-{name}-{run}.log"));
        Process::lookahead(&args, log, self.malloc_conf)
    }

    /// Waits (up to 90 s) until the lookahead has a slot where every rollup has a sequencer.
    pub async fn wait_active(&self) {
        for _ in 0..900 {
            if !self.cross(&SAMPLE_ROLLUPS).await.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the sample sequencers never became active: {}", self.devnet.log());
    }

    /// The upcoming slots where every listed rollup has a sequencer.
    pub async fn cross(&self, rollups: &[u64]) -> Vec<CrossScheduleEntry> {
        let chain_ids: Vec<ChainId> = rollups.iter().map(|id| ChainId::from(*id)).collect();
        let entries = self
            .lookahead
            .get_cross_schedule(chain_ids.into(), None, Some(64))
            .await
            .unwrap_or_default();
        entries
            .into_iter()
            .filter(|entry| entry.entries.values().all(|e| e.sequencer.is_some()))
            .collect()
    }

    /// The first slot at least `lead` slots ahead and after `after` where `rollups` have
    /// sequencers and `accept` holds; with the operator of each rollup there.
    pub async fn find_slot(
        &self,
        rollups: &[u64],
        lead: u64,
        after: Slot,
        accept: impl Fn(&[usize]) -> bool,
    ) -> (Slot, Vec<usize>) {
        for _ in 0..600 {
            let now = self.current_slot().await;
            for entry in self.cross(rollups).await {
                if entry.slot.0 < now + lead || entry.slot <= after {
                    continue;
                }
                let operators: Vec<usize> = rollups
                    .iter()
                    .map(|id| {
                        let operator =
                            entry.entries[&ChainId::from(*id)].sequencer.as_ref().unwrap().operator;
                        self.keys.iter().position(|k| k.address() == operator).unwrap()
                    })
                    .collect();
                if accept(&operators) {
                    return (entry.slot, operators);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no slot with the wanted sequencers came up");
    }

    /// Waits until the lookahead's head is in `slot` or later.
    pub async fn wait_for_slot(&self, slot: u64) {
        for _ in 0..3000 {
            if self.current_slot().await >= slot {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("slot {slot} never came");
    }

    /// The slot of the lookahead's head.
    pub async fn current_slot(&self) -> u64 {
        let status = self.lookahead.status().await.unwrap();
        status.engine.head.and_then(|head| head.slot).map_or(0, |slot| slot.0)
    }
}

/// A signed EIP-1559 transfer on rollup `chain_id`, `gas` gas, from a fresh key.
pub fn transfer(chain_id: u64, nonce: u64, gas: u64) -> Bytes {
    transfer_from(&PrivateKeySigner::random(), chain_id, nonce, gas)
}

/// A signed EIP-1559 transfer on rollup `chain_id`, `gas` gas, from `signer`.
pub fn transfer_from(signer: &PrivateKeySigner, chain_id: u64, nonce: u64, gas: u64) -> Bytes {
    let mut tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(Address::repeat_byte(0x11)),
        value: U256::from(1),
        ..Default::default()
    };
    let signature = signer.sign_transaction_sync(&mut tx).unwrap();
    TxEnvelope::from(tx.into_signed(signature)).encoded_2718().into()
}

/// The first of `count` consecutive ports that are free now.
fn free_port_run(count: u16) -> u16 {
    loop {
        let base = super::anvil::free_port();
        if base.checked_add(count).is_some()
            && (1..count).all(|i| super::anvil::claim_port(base + i))
        {
            return base;
        }
    }
}

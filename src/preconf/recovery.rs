//! Signature recovery of large locks, on threads of its own at a lower OS priority.
//!
//! Anyone may send a lock of 256 transactions whose signatures must all be recovered before it
//! can be judged: milliseconds of CPU for one request. That work runs here, on at most half the
//! cores, at nice [`NICE`] (Linux): on a busy machine the kernel runs the async workers that
//! answer everyone else's small requests first, so bulk work lengthens its own answers rather
//! than every client's. How much of it one client gets at all is the sequencer's signature budget.

use alloy::consensus::{TxEnvelope, transaction::SignerRecoverable};
use alloy_primitives::Address;
use std::{
    io,
    sync::{
        Arc, Mutex,
        mpsc::{self, Receiver, Sender},
    },
};
use tokio::sync::oneshot;
use tracing::warn;

/// The nice value of the recovery threads: below the async workers (0), above idle work.
pub const NICE: i32 = 10;

/// The recovery threads' name (Linux keeps 15 bytes of it).
const THREAD_NAME: &str = "sig-recovery";

/// One lock's transactions, and where their senders go.
type Job = (Vec<TxEnvelope>, oneshot::Sender<Vec<Result<Address, String>>>);

/// Threads that recover transaction senders at [`NICE`]; they end when the pool is dropped.
#[derive(Debug)]
pub struct RecoveryPool {
    jobs: Sender<Job>,
}

/// Why a recovery returned no answer.
#[derive(Debug, thiserror::Error)]
#[error("the signature-recovery thread stopped")]
pub struct RecoveryStopped;

impl RecoveryPool {
    /// `threads` recovery threads (at least one), named `sig-recovery`.
    pub fn new(threads: usize) -> io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new().name(THREAD_NAME.into()).spawn(move || work(&queue))?;
        }
        Ok(Self { jobs })
    }

    /// Half the cores, at least one: more threads recovering would crowd out the async workers
    /// even at a lower priority, as nice only weighs the shares of a busy core.
    pub fn half_the_cores() -> io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        Self::new(cores / 2)
    }

    /// The sender of each of `txs`, in order, or why its signature does not recover.
    pub async fn recover(
        &self,
        txs: Vec<TxEnvelope>,
    ) -> Result<Vec<Result<Address, String>>, RecoveryStopped> {
        let (answer, senders) = oneshot::channel();
        self.jobs.send((txs, answer)).map_err(|_| RecoveryStopped)?;
        senders.await.map_err(|_| RecoveryStopped)
    }
}

/// A recovery thread: lowers its own priority, then takes jobs until the pool is gone.
fn work(queue: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let job = queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).recv();
        let Ok((txs, answer)) = job else { return };
        // A caller that hung up while its lock waited in the queue needs no answer.
        if answer.is_closed() {
            continue;
        }
        let senders =
            txs.iter().map(|tx| tx.recover_signer().map_err(|error| error.to_string())).collect();
        // The caller may have hung up: its answer is not needed then.
        let _ = answer.send(senders);
    }
}

/// Sets the calling thread's nice value to [`NICE`] (on Linux, nice is per thread).
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: `setpriority` takes no pointers; `who` 0 is the calling thread on Linux.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICE) } != 0 {
        warn!(error = %io::Error::last_os_error(), "cannot lower the signature-recovery thread's priority");
    }
}

/// Elsewhere the recovery threads keep the default priority.
#[cfg(not(target_os = "linux"))]
fn lower_priority() {
    warn!("the signature-recovery threads keep the default priority on this platform");
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::{
        consensus::{SignableTransaction, TxEip1559},
        network::TxSignerSync,
        signers::local::PrivateKeySigner,
    };

    fn signed(signer: &PrivateKeySigner, nonce: u64) -> TxEnvelope {
        let mut tx = TxEip1559 { chain_id: 1, nonce, gas_limit: 21_000, ..Default::default() };
        let signature = signer.sign_transaction_sync(&mut tx).unwrap();
        tx.into_signed(signature).into()
    }

    #[tokio::test]
    async fn recovers_senders_in_order_on_low_priority_threads() {
        let pool = RecoveryPool::new(2).unwrap();
        let (a, b) = (PrivateKeySigner::random(), PrivateKeySigner::random());
        let txs = vec![signed(&a, 0), signed(&b, 0), signed(&a, 1)];
        let senders: Vec<Address> =
            pool.recover(txs).await.unwrap().into_iter().map(Result::unwrap).collect();
        assert_eq!(senders, [a.address(), b.address(), a.address()]);

        #[cfg(target_os = "linux")]
        {
            // Each thread lowers its priority as it starts: all have within a second.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
            while recovery_thread_nices().iter().any(|nice| *nice != NICE) {
                assert!(std::time::Instant::now() < deadline, "{:?}", recovery_thread_nices());
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            assert!(!recovery_thread_nices().is_empty());
        }
    }

    /// The nice value of each recovery thread of this process: field 19 of
    /// `/proc/self/task/<tid>/stat` (the name, field 2, has no spaces).
    #[cfg(target_os = "linux")]
    fn recovery_thread_nices() -> Vec<i32> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let name = std::fs::read_to_string(path.join("comm")).ok()?;
                (name.trim() == THREAD_NAME).then_some(path)
            })
            .filter_map(|task| {
                let stat = std::fs::read_to_string(task.join("stat")).ok()?;
                stat.split_whitespace().nth(18)?.parse().ok()
            })
            .collect()
    }
}

//! Signature recovery of large locks, on threads of its own at a lower OS priority.
//!
//! Anyone may send a lock of 256 transactions whose signatures must all be recovered before it
//! can be judged: milliseconds of CPU for one request. That work runs here, on at most half the
//! cores, at nice [`NICE`] (Linux): on a busy machine the kernel runs the async workers that
//! answer everyone else's small requests first, so bulk work lengthens its own answers rather
//! than every client's. How much of it one client gets at all is the sequencer's signature budget.
//!
//! Recovery stops at the first transaction that decides the lock's refusal (an invalid
//! signature, or one sender past its quota), so a lock of 256 transactions from one sender
//! costs the quota's worth of recoveries, not 256.

use alloy::consensus::{TxEnvelope, transaction::SignerRecoverable};
use alloy_primitives::Address;
use std::{
    collections::HashMap,
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

/// One lock's transactions, the most one sender may have among them, and where their senders
/// go.
type Job = (Vec<TxEnvelope>, usize, oneshot::Sender<Result<Vec<Address>, Unrecovered>>);

/// Why the senders of a lock's transactions were not all recovered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unrecovered {
    /// A transaction's signature does not recover.
    #[error("tx {index} has an invalid signature: {error}")]
    Invalid {
        /// The transaction's index in the lock.
        index: usize,
        /// Why it does not recover.
        error: String,
    },
    /// More of the lock's transactions than the per-sender quota come from one sender: the lock
    /// is refused whatever the slot already holds.
    #[error("sender {sender} signs more than {limit} of the lock's transactions")]
    OverQuota {
        /// The sender.
        sender: Address,
        /// The most transactions one sender may have in a slot.
        limit: usize,
    },
}

/// The sender of each of `txs`, in order. Stops at the first signature that does not recover
/// and at the first sender with more than `per_sender` of the transactions: the rest would
/// not change the answer.
pub fn recover_senders(txs: &[TxEnvelope], per_sender: usize) -> Result<Vec<Address>, Unrecovered> {
    let mut counts: HashMap<Address, usize> = HashMap::new();
    txs.iter()
        .enumerate()
        .map(|(index, tx)| {
            let sender = tx
                .recover_signer()
                .map_err(|error| Unrecovered::Invalid { index, error: error.to_string() })?;
            let count = counts.entry(sender).or_default();
            *count += 1;
            if *count > per_sender {
                return Err(Unrecovered::OverQuota { sender, limit: per_sender });
            }
            Ok(sender)
        })
        .collect()
}

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

    /// [`recover_senders`] of `txs` on a recovery thread.
    pub async fn recover(
        &self,
        txs: Vec<TxEnvelope>,
        per_sender: usize,
    ) -> Result<Result<Vec<Address>, Unrecovered>, RecoveryStopped> {
        let (answer, senders) = oneshot::channel();
        self.jobs.send((txs, per_sender, answer)).map_err(|_| RecoveryStopped)?;
        senders.await.map_err(|_| RecoveryStopped)
    }
}

/// A recovery thread: lowers its own priority, then takes jobs until the pool is gone.
fn work(queue: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let job = queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).recv();
        let Ok((txs, per_sender, answer)) = job else { return };
        // A caller that hung up while its lock waited in the queue needs no answer.
        if answer.is_closed() {
            continue;
        }
        // The caller may have hung up: its answer is not needed then.
        let _ = answer.send(recover_senders(&txs, per_sender));
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
        let senders = pool.recover(txs, 2).await.unwrap().unwrap();
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

    #[test]
    fn recovery_stops_at_the_first_refusal() {
        let (a, b) = (PrivateKeySigner::random(), PrivateKeySigner::random());
        let mut txs: Vec<TxEnvelope> = (0..40).map(|nonce| signed(&a, nonce)).collect();
        // Past the quota's transaction, a signature that does not recover: never reached.
        let TxEnvelope::Eip1559(tx) = &txs[20] else { unreachable!() };
        let (tx, _, _) = tx.clone().into_parts();
        let invalid = alloy_primitives::Signature::new(
            alloy_primitives::U256::ZERO,
            alloy_primitives::U256::ZERO,
            false,
        );
        txs[20] = tx.into_signed(invalid).into();
        assert_eq!(
            recover_senders(&txs, 16),
            Err(Unrecovered::OverQuota { sender: a.address(), limit: 16 })
        );
        assert!(matches!(recover_senders(&txs, 32), Err(Unrecovered::Invalid { index: 20, .. })));
        let mixed = [signed(&a, 0), signed(&b, 0), signed(&a, 1)];
        assert_eq!(recover_senders(&mixed, 2), Ok(vec![a.address(), b.address(), a.address()]));
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

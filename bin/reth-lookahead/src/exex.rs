//! The execution extension: Reth's `ExExNotification`s in, the engine's notifications out.
//!
//! On start it hands Reth the engine's persisted head (`set_notifications_with_head`), so Reth
//! reverts what is no longer canonical and backfills what was missed; it acknowledges every
//! notification (`FinishedHeight` of the new tip, or of the fork block after a revert) only after
//! the engine's commit for it is durable. A failed commit (a full disk) reloads the engine at its
//! last durable head and is tried again with backoff; nothing is acknowledged meanwhile, so Reth
//! keeps the notification in its WAL.

use alloy_eips::BlockNumHash;
use eyre::WrapErr;
use futures::TryStreamExt;
use reth_ethereum::{
    exex::{ExExContext, ExExEvent, ExExHead, ExExNotification},
    node::api::{FullNodeComponents, NodePrimitives, NodeTypes},
    primitives::AlloyBlockHeader,
    provider::{BlockHashReader, BlockIdReader, Chain as RethChain},
};
use sequencer_lookahead::{
    Block, BlockRef, Chain, EngineError, Finality, Notification, Store,
    service::shared::{SharedEngine, SharedError},
};
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// Runs the lookahead engine on the node's canonical chain; never returns `Ok` (an ExEx runs
/// for the node's lifetime).
pub(crate) async fn run<Node>(
    mut ctx: ExExContext<Node>,
    shared: Arc<SharedEngine>,
    mut store: Store,
) -> eyre::Result<()>
where
    Node: FullNodeComponents,
    <Node::Types as NodeTypes>::Primitives: NodePrimitives<Receipt = reth_ethereum::Receipt>,
{
    let head = shared.read().head().map(|head| BlockNumHash::new(head.number, head.hash));
    match head.or(start_before_deployment(&ctx, &shared)?) {
        Some(block) => ctx.set_notifications_with_head(ExExHead { block }),
        None => ctx.set_notifications_without_head(),
    }
    while let Some(notification) = ctx.notifications.try_next().await? {
        let converted = convert(&notification)?;
        apply_durably(&shared, &converted, &mut store).await?;
        let finality = Finality {
            safe: ctx
                .provider()
                .safe_block_num_hash()?
                .map(|b| BlockRef { number: b.number, hash: b.hash }),
            finalized: ctx
                .provider()
                .finalized_block_num_hash()?
                .map(|b| BlockRef { number: b.number, hash: b.hash }),
        };
        match shared.set_finality(finality, &mut store) {
            Ok(()) => {}
            Err(SharedError::Engine(error @ EngineError::FinalizedMismatch { .. })) => {
                warn!(target: "lookahead::exex", %error, "the node's finality contradicts the processed chain");
            }
            Err(error) => {
                warn!(target: "lookahead::exex", %error, "finality not recorded; retried with the next notification");
            }
        }
        let finished = match notification.committed_chain() {
            Some(committed) => committed.tip().num_hash(),
            None => notification.reverted_chain().map(|old| old.fork_block()).ok_or_else(|| {
                eyre::eyre!("a notification with neither a committed nor a reverted chain")
            })?,
        };
        ctx.events.send(ExExEvent::FinishedHeight(finished))?;
    }
    eyre::bail!("the node closed the ExEx notification stream")
}

/// Applies `notification` until its commit is durable: a failed write (the engine reloaded at
/// its last durable head) is retried with backoff; an engine error ends the ExEx.
async fn apply_durably(
    shared: &SharedEngine,
    notification: &Notification,
    store: &mut Store,
) -> eyre::Result<()> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match shared.apply(notification, store) {
            Ok(_) => return Ok(()),
            Err(SharedError::Store(error)) => {
                warn!(target: "lookahead::exex", %error, ?backoff, "commit failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            Err(SharedError::Engine(error)) => {
                return Err(error)
                    .wrap_err("while applying a notification to the lookahead engine");
            }
        }
    }
}

/// For an engine that has processed nothing: the block before the registry's deployment, if
/// the node has it, so Reth backfills the registry's history from its deployment on.
fn start_before_deployment<Node: FullNodeComponents>(
    ctx: &ExExContext<Node>,
    shared: &SharedEngine,
) -> eyre::Result<Option<BlockNumHash>> {
    let number = shared.read().config().deployment_block.saturating_sub(1);
    Ok(ctx.provider().block_hash(number)?.map(|hash| BlockNumHash::new(number, hash)))
}

/// Reth's notification as the engine's, field by field.
fn convert<N>(notification: &ExExNotification<N>) -> eyre::Result<Notification>
where
    N: NodePrimitives<Receipt = reth_ethereum::Receipt>,
{
    Ok(match notification {
        ExExNotification::ChainCommitted { new } => Notification::Committed { new: chain(new)? },
        ExExNotification::ChainReverted { old } => Notification::Reverted { old: chain(old)? },
        ExExNotification::ChainReorged { old, new } => {
            Notification::Reorged { old: chain(old)?, new: chain(new)? }
        }
    })
}

/// A Reth chain as the engine's: header fields and the logs of every receipt.
fn chain<N>(chain: &RethChain<N>) -> eyre::Result<Arc<Chain>>
where
    N: NodePrimitives<Receipt = reth_ethereum::Receipt>,
{
    let blocks = chain
        .blocks_and_receipts()
        .map(|(block, receipts)| {
            let header = block.header();
            Block {
                number: header.number(),
                hash: block.hash(),
                parent_hash: header.parent_hash(),
                timestamp: header.timestamp(),
                prevrandao: header.mix_hash().unwrap_or_default(),
                logs_bloom: header.logs_bloom(),
                logs: receipts.iter().flat_map(|receipt| receipt.logs.iter().cloned()).collect(),
            }
        })
        .collect();
    Ok(Arc::new(Chain::new(blocks)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Address, Bloom, Log, U256, keccak256};
    use alloy_sol_types::SolEvent;
    use reth_ethereum::{
        BlockBody, Receipt, TxType,
        primitives::{RecoveredBlock, SealedBlock},
        provider::ExecutionOutcome,
    };
    use reth_exex_test_utils::{TestExExHandle, test_exex_context};
    use sequencer_lookahead::{
        Engine, EngineConfig, SlotClock,
        core::contract::SequencerRegistry,
        store::faults::{Faults, faulty_database},
    };
    use std::time::Duration;

    const REGISTRY: Address = Address::repeat_byte(0x42);
    const GENESIS_TIME: u64 = 1_700_000_000;

    fn config() -> EngineConfig {
        EngineConfig {
            registry: REGISTRY,
            deployment_block: 0,
            clock: SlotClock::new(GENESIS_TIME, 12, 4).expect("non-zero timing"),
        }
    }

    /// One block as Reth hands it to the ExEx, and as the engine should see it.
    struct TestBlock {
        reth: RecoveredBlock<reth_ethereum::Block>,
        receipts: Vec<Receipt>,
        expected: Block,
    }

    /// The child of `parent` in the next slot; `fork` tells siblings apart (their hashes and
    /// `prevrandao` differ); each event is a registry log of its own receipt.
    fn child(parent: &BlockNumHash, fork: u8, events: Vec<alloy_primitives::LogData>) -> TestBlock {
        let number = parent.number + 1;
        let logs: Vec<Log> =
            events.into_iter().map(|data| Log { address: REGISTRY, data }).collect();
        let mut logs_bloom = Bloom::ZERO;
        logs_bloom.accrue_logs(&logs);
        let header = alloy_consensus::Header {
            number,
            parent_hash: parent.hash,
            timestamp: GENESIS_TIME + 12 * number,
            mix_hash: keccak256([parent.hash.as_slice(), &[fork]].concat()),
            logs_bloom,
            ..Default::default()
        };
        let sealed = SealedBlock::seal_slow(reth_ethereum::Block {
            header: header.clone(),
            body: BlockBody::default(),
        });
        let receipts: Vec<Receipt> = logs
            .iter()
            .map(|log| Receipt {
                tx_type: TxType::Eip1559,
                success: true,
                cumulative_gas_used: 50_000,
                logs: vec![log.clone()],
            })
            .collect();
        let expected = Block {
            number,
            hash: sealed.hash(),
            parent_hash: parent.hash,
            timestamp: header.timestamp,
            prevrandao: header.mix_hash,
            logs_bloom,
            logs,
        };
        TestBlock { reth: RecoveredBlock::new_sealed(sealed, Vec::new()), receipts, expected }
    }

    /// `count` children of `parent`, `events` in the first.
    fn extend(
        parent: BlockNumHash,
        count: u64,
        fork: u8,
        mut events: Vec<alloy_primitives::LogData>,
    ) -> Vec<TestBlock> {
        let mut blocks: Vec<TestBlock> = Vec::new();
        for _ in 0..count {
            let tip = blocks.last().map_or(parent, |b| b.reth.num_hash());
            blocks.push(child(&tip, fork, std::mem::take(&mut events)));
        }
        blocks
    }

    fn reth_chain(blocks: &[TestBlock]) -> RethChain {
        let receipts = blocks.iter().map(|b| b.receipts.clone()).collect();
        let first = blocks[0].reth.number;
        RethChain::new(
            blocks.iter().map(|b| b.reth.clone()),
            ExecutionOutcome::new(Default::default(), receipts, first, Vec::new()),
            Default::default(),
        )
    }

    fn engine_chain(blocks: &[TestBlock]) -> Arc<Chain> {
        Arc::new(Chain::new(blocks.iter().map(|b| b.expected.clone()).collect()).unwrap())
    }

    fn rollup(chain_id: u64) -> alloy_primitives::LogData {
        SequencerRegistry::RollupRegistered {
            chainId: U256::from(chain_id),
            admin: Address::repeat_byte(0xad),
            minBond: U256::from(1),
        }
        .encode_log_data()
    }

    fn sequencer(chain_id: u64, index: u64, operator: u8) -> alloy_primitives::LogData {
        SequencerRegistry::SequencerRegistered {
            chainId: U256::from(chain_id),
            index: U256::from(index),
            operator: Address::repeat_byte(operator),
            signer: Address::repeat_byte(operator + 1),
            rpcUrl: format!("http://127.0.0.1:{}", 9600 + u16::from(operator)),
            activeFrom: 0,
            existsFrom: 0,
            bond: U256::from(1),
        }
        .encode_log_data()
    }

    /// Waits for the ExEx's next event and checks it is `FinishedHeight(expected)`.
    async fn finished(handle: &mut TestExExHandle, expected: BlockNumHash) {
        let event = tokio::time::timeout(Duration::from_secs(10), handle.events_rx.recv())
            .await
            .expect("the ExEx answers within 10 s")
            .expect("the ExEx is running");
        assert_eq!(event, ExExEvent::FinishedHeight(expected));
    }

    /// Commits with registry logs, a reorg that replaces them and a revert: after each the
    /// ExEx's engine equals one fed the expected notifications directly, `FinishedHeight` names
    /// the new tip (the fork block after the revert), and the database holds that state.
    #[tokio::test(flavor = "multi_thread")]
    async fn commits_reorgs_and_reverts_match_the_engine_and_are_acknowledged() {
        let (ctx, mut handle) = test_exex_context().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lookahead.redb");
        let (store, engine) = Store::open(&path, config()).unwrap();
        let shared = SharedEngine::new(engine);
        let exex = tokio::spawn(run(ctx, shared.clone(), store));
        let mut reference = Engine::new(config());

        let genesis = handle.genesis.num_hash();
        let a =
            extend(genesis, 8, 0, vec![rollup(101), sequencer(101, 0, 1), sequencer(101, 1, 2)]);
        handle.send_notification_chain_committed(reth_chain(&a)).await.unwrap();
        reference.apply(&Notification::Committed { new: engine_chain(&a) }).unwrap();
        finished(&mut handle, a[7].reth.num_hash()).await;
        assert_eq!(shared.read().state(), reference.state());
        assert_eq!(shared.read().status().rollups.len(), 1);

        let b = extend(a[4].reth.num_hash(), 4, 1, vec![rollup(102), sequencer(102, 0, 3)]);
        handle.send_notification_chain_reorged(reth_chain(&a[5..]), reth_chain(&b)).await.unwrap();
        reference
            .apply(&Notification::Reorged { old: engine_chain(&a[5..]), new: engine_chain(&b) })
            .unwrap();
        finished(&mut handle, b[3].reth.num_hash()).await;
        assert_eq!(shared.read().state(), reference.state());
        assert_eq!(shared.read().status().rollups.len(), 2);

        handle.send_notification_chain_reverted(reth_chain(&b[2..])).await.unwrap();
        reference.apply(&Notification::Reverted { old: engine_chain(&b[2..]) }).unwrap();
        finished(&mut handle, b[1].reth.num_hash()).await;
        assert_eq!(shared.read().state(), reference.state());
        assert_eq!(shared.read().head().map(|h| h.hash), Some(b[1].reth.hash()));

        exex.abort();
        let _ = exex.await;
        let (_, reopened) = Store::open(&path, config()).unwrap();
        assert_eq!(reopened.state(), reference.state());
    }

    /// A commit that fails (the disk is full) is not acknowledged: the engine is reloaded at its
    /// last durable head, the ExEx retries, and acknowledges once the write succeeds.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_failed_commit_is_retried_and_acknowledged_only_once_durable() {
        let (ctx, mut handle) = test_exex_context().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lookahead.redb");
        let faults = Arc::new(Faults::default());
        let (store, engine) =
            Store::open_with(faulty_database(&path, faults.clone()), config()).unwrap();
        let shared = SharedEngine::new(engine);
        let exex = tokio::spawn(run(ctx, shared.clone(), store));

        let a = extend(handle.genesis.num_hash(), 4, 0, vec![rollup(101), sequencer(101, 0, 1)]);
        faults.fail_after(0);
        handle.send_notification_chain_committed(reth_chain(&a)).await.unwrap();
        let early = tokio::time::timeout(Duration::from_millis(800), handle.events_rx.recv()).await;
        assert!(early.is_err(), "nothing is acknowledged while the commit fails: {early:?}");
        assert!(faults.injected() > 0);
        assert!(
            shared.is_stale(),
            "while the database fails even to reopen, the engine says stale"
        );

        faults.heal();
        finished(&mut handle, a[3].reth.num_hash()).await;
        let mut reference = Engine::new(config());
        reference.apply(&Notification::Committed { new: engine_chain(&a) }).unwrap();
        assert_eq!(shared.read().state(), reference.state());
        assert!(!shared.is_stale(), "durable again");
        exex.abort();
        let _ = exex.await;
        let (_, reopened) = Store::open(&path, config()).unwrap();
        assert_eq!(reopened.state(), reference.state());
    }

    /// A notification that cannot be applied (a revert of blocks the engine never saw) stops
    /// the ExEx with an error instead of acknowledging it.
    #[tokio::test(flavor = "multi_thread")]
    async fn an_unappliable_notification_fails_the_exex_without_acknowledging() {
        let (ctx, mut handle) = test_exex_context().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (store, engine) = Store::open(&dir.path().join("lookahead.redb"), config()).unwrap();
        let exex = tokio::spawn(run(ctx, SharedEngine::new(engine), store));

        let unseen = extend(handle.genesis.num_hash(), 2, 9, Vec::new());
        handle.send_notification_chain_reverted(reth_chain(&unseen)).await.unwrap();
        let result = tokio::time::timeout(Duration::from_secs(10), exex).await.unwrap().unwrap();
        assert!(result.is_err());
        assert!(handle.events_rx.try_recv().is_err());
    }
}

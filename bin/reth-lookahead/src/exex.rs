//! The execution extension: Reth's `ExExNotification`s in, the engine's notifications out.
//!
//! On start it hands Reth the engine's persisted head (`set_notifications_with_head`), so Reth
//! reverts what is no longer canonical and backfills what was missed; it acknowledges a block
//! (`FinishedHeight`) only after the engine's commit for it is durable.

use alloy_eips::BlockNumHash;
use eyre::WrapErr;
use futures::TryStreamExt;
use reth_ethereum::{
    exex::{ExExContext, ExExEvent, ExExHead, ExExNotification},
    node::api::{FullNodeComponents, NodePrimitives, NodeTypes},
    primitives::AlloyBlockHeader,
    provider::{BlockIdReader, Chain as RethChain},
};
use sequencer_lookahead::{
    Block, BlockRef, Chain, Finality, Notification, Store, shared::SharedEngine,
};
use std::sync::Arc;

/// Runs the lookahead engine on the node's canonical chain; never returns `Ok` (an ExEx runs
/// for the node's lifetime).
pub(crate) async fn run<Node>(
    mut ctx: ExExContext<Node>,
    shared: Arc<SharedEngine>,
    store: Store,
) -> eyre::Result<()>
where
    Node: FullNodeComponents,
    <Node::Types as NodeTypes>::Primitives: NodePrimitives<Receipt = reth_ethereum::Receipt>,
{
    match shared.read().head() {
        Some(head) => ctx.set_notifications_with_head(ExExHead {
            block: BlockNumHash::new(head.number, head.hash),
        }),
        None => ctx.set_notifications_without_head(),
    }
    while let Some(notification) = ctx.notifications.try_next().await? {
        let converted = convert(&notification)?;
        shared
            .apply(&converted, |engine| store.commit(engine).map_err(eyre::Report::from))
            .wrap_err("while applying a notification to the lookahead engine")?;
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
        shared.update(|engine| {
            engine.set_finality(finality);
            store.commit(engine)
        })?;
        if let Some(committed) = notification.committed_chain() {
            ctx.events.send(ExExEvent::FinishedHeight(committed.tip().num_hash()))?;
        }
    }
    eyre::bail!("the node closed the ExEx notification stream")
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

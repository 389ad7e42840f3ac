//! The lookahead's reorg notifications, as the reference sequencer follows them: a confirm
//! re-checks a lock's selection only when the lookahead reported a reorg since the selection was
//! read, rather than asking the lookahead again on every confirm.
//!
//! [`ReorgWatch`] holds `lookahead_subscribe("schedule")` open over a WebSocket (every rollup's:
//! a reorg that removes a rollup's registration is reported under no chain id of its own) and
//! counts epochs: every `reorged` notification, every lost subscription and every new one starts
//! a new epoch, and while no subscription is live there is no epoch at all. A selection read in
//! epoch `e` still stands at confirm if the epoch is still `e`: the subscription stayed live
//! and reported no reorg in between. Otherwise the sequencer asks the lookahead again, as it
//! does whenever nothing is followed. The lookahead ends its subscriptions when it replaces its
//! state without a notification (a reload after a failed write), and the watch pings the
//! WebSocket, so a connection that died silently is a lost subscription within twice
//! its silence limit (15 s).
//!
//! What a confirm sees is the lookahead's view as far as its notifications have arrived: a
//! reorg the lookahead applied a moment before the confirm and whose notification is still on
//! the wire is missed, as a fresh question would miss a reorg that the lookahead's node has not
//! told it yet. `--lookahead-ws` and `--lookahead-rpc` must reach the same lookahead. A slot
//! whose anchor is final is never re-checked.

use crate::{core::schedule::ChangeKind, rpc::api::LookaheadApiClient};
use jsonrpsee::ws_client::{PingConfig, WsClientBuilder};
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

/// How long the watch waits before subscribing again after a failed or lost subscription.
const RESUBSCRIBE: Duration = Duration::from_secs(1);

/// How often the WebSocket is pinged.
const PING_INTERVAL: Duration = Duration::from_secs(5);

/// How long the WebSocket may stay silent — no pong, no notification — before the connection
/// counts as lost: three pings. It is checked once per such span, so a dead connection is lost
/// within twice this. (jsonrpsee checks it apart from the pings: a span of one ping interval
/// would race the pong of the ping sent at its end.)
const SILENCE_LIMIT: Duration = Duration::from_secs(15);

/// The low bit of the state: a subscription is live. The other bits count epochs.
const LIVE: u64 = 1;

/// A point in the lookahead's reorg history, as the sequencer followed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReorgEpoch(u64);

/// The sequencer's view of the lookahead's reorgs; cheap to clone. Following stops when the
/// last clone is dropped.
#[derive(Clone, Debug, Default)]
pub struct ReorgWatch {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// `epoch << 1 | live`.
    state: AtomicU64,
    /// Dropped with the last clone: ends the following task.
    _stop: Option<oneshot::Sender<()>>,
}

impl ReorgWatch {
    /// A watch that follows nothing: it has no epoch, so every confirm asks the lookahead.
    pub fn unfollowed() -> Self {
        Self::default()
    }

    /// Follows the `reorged` notifications at the lookahead's WebSocket `url` (`ws://` or
    /// `wss://`), subscribing again after a second whenever the subscription fails or is lost,
    /// in a task that ends with the last clone of the watch.
    pub fn follow(url: String) -> Self {
        let (stop, stopped) = oneshot::channel();
        let watch = Self { inner: Arc::new(Inner { state: AtomicU64::new(0), _stop: Some(stop) }) };
        let state = Arc::downgrade(&watch.inner);
        tokio::spawn(async move {
            tokio::select! {
                () = follow(&url, || state.upgrade()) => {}
                _ = stopped => {}
            }
        });
        watch
    }

    /// The current epoch; `None` while no subscription is live.
    pub fn epoch(&self) -> Option<ReorgEpoch> {
        let state = self.inner.state.load(Ordering::Acquire);
        (state & LIVE == LIVE).then_some(ReorgEpoch(state))
    }

    /// Whether it is still `epoch`: the subscription stayed live and reported no reorg since.
    pub fn unchanged_since(&self, epoch: ReorgEpoch) -> bool {
        self.inner.state.load(Ordering::Acquire) == epoch.0
    }
}

impl Inner {
    /// Starts a new epoch, live or not.
    fn advance(&self, live: bool) {
        let next = |state: u64| Some(((state >> 1).wrapping_add(1) << 1) | u64::from(live));
        let _ = self.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, next);
    }
}

/// Subscribes at `url` and advances the watch that `watch` upgrades to, until that watch is gone.
async fn follow(url: &str, watch: impl Fn() -> Option<Arc<Inner>>) {
    let kind = "schedule".to_owned();
    // A lookahead without WebSockets there fails every second: said once, until it works.
    let mut said = false;
    loop {
        let subscribed = async {
            let ping = PingConfig::new().ping_interval(PING_INTERVAL).inactive_limit(SILENCE_LIMIT);
            let client = WsClientBuilder::default().enable_ws_ping(ping).build(url).await?;
            let subscription = client.subscribe_schedule(kind.clone(), None).await?;
            Ok::<_, jsonrpsee::core::client::Error>((client, subscription))
        };
        match subscribed.await {
            Ok((_client, mut subscription)) => {
                let Some(inner) = watch() else { return };
                inner.advance(true);
                info!(%url, "following the lookahead's reorgs");
                said = false;
                drop(inner);
                while let Some(notification) = subscription.next().await {
                    let Some(inner) = watch() else { return };
                    match notification {
                        Ok(change) if change.kind != ChangeKind::Reorged => {}
                        // A notification that does not parse may be a reorg: count it as one.
                        _ => inner.advance(true),
                    }
                }
                let Some(inner) = watch() else { return };
                inner.advance(false);
                warn!(%url, "lost the lookahead's reorg notifications: confirms ask it again");
            }
            Err(error) if !said => {
                said = true;
                warn!(%url, %error, "cannot follow the lookahead's reorgs: confirms ask it again");
            }
            Err(error) => debug!(%url, %error, "still cannot follow the lookahead's reorgs"),
        }
        tokio::time::sleep(RESUBSCRIBE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_stands_until_a_reorg_or_a_lost_subscription() {
        let watch = ReorgWatch::unfollowed();
        assert_eq!(watch.epoch(), None, "nothing followed: no epoch");
        watch.inner.advance(true);
        let first = watch.epoch().expect("live");
        assert!(watch.unchanged_since(first));
        watch.inner.advance(true);
        assert!(!watch.unchanged_since(first), "a reorg ends the epoch");
        let second = watch.epoch().expect("live");
        watch.inner.advance(false);
        assert_eq!(watch.epoch(), None);
        assert!(!watch.unchanged_since(second), "a lost subscription ends the epoch");
        watch.inner.advance(true);
        assert!(!watch.unchanged_since(second), "nor does a new subscription bring it back");
        assert_ne!(watch.epoch(), Some(first));
    }
}

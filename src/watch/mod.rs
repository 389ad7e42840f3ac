//! The watcher (SPEC §8): collects promises, and once their slots close has broken promises
//! slashed and missed slots reported on L1 — idempotently across restarts, and again when a
//! reorg removed a slash or a report. Anyone can run one; a user holding a promise needs
//! nobody else (`watch_submitPromise`, or `slashPromise` directly).
//!
//! - [`api`]: the `watch_` namespace (`watch_submitPromise`) and its error codes.
//! - [`collector`]: checks promises (signature under the registry's domain on this L1, the
//!   selected signer, the slashing window) from the `watch_` server (rate-limited per client
//!   IP) and from the selected sequencers' `preconf_getPromises` (dialled as the endpoint
//!   policy allows).
//! - [`verdict`]: whether a closed slot broke a promise, and what a registry revert means — no
//!   I/O.
//! - [`chain`]: what the watcher reads from L1.
//! - [`store`]: its redb database (promises, slots to judge, actions and their transactions).
//! - [`watcher`]: the loop that judges slots and sends, confirms and re-checks the slashes and
//!   reports.
//!
//! Metrics (`metrics` facade; `lookahead watch --metrics` serves them):
//!
//! | metric | kind | meaning |
//! |--------|------|---------|
//! | `lookahead_watch_promises_total{source, outcome}` | counter | promises received (`submitted`, `sequencer`): `new`, `known`, or the refusal (`too_large`, `signature`, `not_selected`, `no_sequencer`, `too_late`, `unknown_rollup`, `beyond_horizon`, `unavailable`, `store`; `rate_limited` for a submitting client over its limits) |
//! | `lookahead_watch_sequencer_polls_total{outcome}` | counter | `preconf_getPromises` calls, `ok` or `error`; `refused` for an endpoint the endpoint policy does not dial |
//! | `lookahead_watch_verdicts_total{verdict}` | counter | promises judged `kept` or `broken` |
//! | `lookahead_watch_missed_slots_total` | counter | missed slots found on followed rollups |
//! | `lookahead_watch_actions_total{kind, event}` | counter | slashes (`slash`) and reports (`report_miss`): `created`, `sent`, `confirmed`, `final`, `reverted`, `lost`, `reorged`, `done_elsewhere`, `rejudged`, `dropped` |
//! | `lookahead_watch_actions_dropped_total{kind, reason}` | counter | actions not sent because the registry would refuse them (its error: `PromiseKept`, `InvalidPromiseSignature`, `TooLate`, …) |
//! | `lookahead_watch_seeds_checkpointed_total` | counter | `checkpointSeed` transactions |
//! | `lookahead_watch_open_actions` | gauge | actions not final yet |
//! | `lookahead_watch_l1_slot` | gauge | the slot of L1's latest block |
//! | `lookahead_watch_round_failures_total` | counter | rounds that failed (retried with backoff) |

pub mod api;
#[cfg(feature = "watch")]
pub mod chain;
#[cfg(feature = "watch")]
pub mod collector;
#[cfg(feature = "watch")]
pub mod store;
#[cfg(feature = "watch")]
pub mod verdict;
#[cfg(feature = "watch")]
pub mod watcher;

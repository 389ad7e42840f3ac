//! The one way a service waits on another process: every request gets a deadline, and a
//! request that misses it becomes the caller's own timeout error.

use std::{future::IntoFuture, time::Duration};

/// Awaits `request` for at most `limit`; past it, the error is `timed_out()`.
pub async fn with_deadline<T, E>(
    limit: Duration,
    request: impl IntoFuture<Output = Result<T, E>>,
    timed_out: impl FnOnce() -> E,
) -> Result<T, E> {
    tokio::time::timeout(limit, request.into_future()).await.unwrap_or_else(|_| Err(timed_out()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_in_time_pass_and_late_ones_time_out() {
        let quick = with_deadline(Duration::from_secs(1), async { Ok::<_, &str>(7) }, || "late");
        assert_eq!(quick.await, Ok(7));
        let failing =
            with_deadline(Duration::from_secs(1), async { Err::<u8, _>("no") }, || "late");
        assert_eq!(failing.await, Err("no"));
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, &str>(7)
        };
        assert_eq!(with_deadline(Duration::from_millis(10), slow, || "late").await, Err("late"));
    }
}

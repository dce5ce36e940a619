//! Writes DynamoDB refused because a transaction in flight touches one of
//! their items, sent again.
//!
//! DynamoDB does not queue a write behind a transaction: while a
//! `TransactWriteItems` is under way, another one touching any of its items
//! is cancelled (a `TransactionConflict` cancellation reason for that item),
//! and a `PutItem`, `UpdateItem` or `DeleteItem` on one is refused
//! (`TransactionConflictException`), neither retried by the SDK (DynamoDB
//! developer guide, "Transaction conflict handling in DynamoDB"). Neither
//! wrote anything, so each is sent again here after a short jittered wait:
//! the transaction in its way lasts milliseconds, and the write then meets
//! what that transaction left (a claim taken, a version moved on) and is
//! answered as it always is. A conflict that outlasts every attempt is
//! another writer busy with the same record: `409 concurrent_update`
//! (`super::upstream`), never a 502.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};

use super::Store;

/// How long a write refused for a transaction in flight waits before each
/// new attempt (before jitter, ×0.5–1.5): 6 attempts over about 1.5 s,
/// well inside a call's budget.
const CONFLICT_WAITS: [Duration; 5] = [
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
];

/// Sends a write (`send` makes the request and sends it) again while
/// DynamoDB refuses it for a transaction in flight (`conflicted`), after
/// jittered waits; answers the last attempt's result.
pub(super) async fn resend_on_conflict<T, E, R, Fut>(
    send: impl Fn() -> Fut,
    conflicted: impl Fn(&SdkError<E, R>) -> bool,
) -> Result<T, SdkError<E, R>>
where
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
{
    resend_after(&CONFLICT_WAITS, send, conflicted).await
}

/// [`resend_on_conflict`] with the waits `waits`.
async fn resend_after<T, E, R, Fut>(
    waits: &[Duration],
    send: impl Fn() -> Fut,
    conflicted: impl Fn(&SdkError<E, R>) -> bool,
) -> Result<T, SdkError<E, R>>
where
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
{
    let mut waits = waits.iter();
    loop {
        let sent = send().await;
        match &sent {
            Err(e) if conflicted(e) => {
                let Some(wait) = waits.next() else {
                    tracing::warn!("DynamoDB refused every attempt of a write: a transaction in flight touches one of its items");
                    return sent;
                };
                // Jittered, so writes refused together spread out.
                let wait = wait.mul_f64(0.5 + crate::random::random_unit());
                tracing::info!(
                    wait_ms = wait.as_millis() as u64,
                    "DynamoDB refused a write: a transaction in flight touches one of its items; sending it again"
                );
                tokio::time::sleep(wait).await;
            }
            _ => return sent,
        }
    }
}

/// Whether a single write (`PutItem`, `UpdateItem`, `DeleteItem`) was
/// refused for a transaction in flight on its item.
pub(super) fn write_conflict<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(ProvideErrorMetadata::code)
        == Some("TransactionConflictException")
}

/// Whether a transaction was cancelled only because another one in flight
/// touched its items: some reason `TransactionConflict`, every other `None`.
/// A failed condition among them is the answer, and would be again.
pub(super) fn transaction_conflict<R>(e: &SdkError<TransactWriteItemsError, R>) -> bool {
    let Some(TransactWriteItemsError::TransactionCanceledException(c)) = e.as_service_error()
    else {
        return false;
    };
    let codes: Vec<&str> = c
        .cancellation_reasons()
        .iter()
        .map(|r| r.code().unwrap_or("None"))
        .collect();
    codes.contains(&"TransactionConflict")
        && codes
            .iter()
            .all(|c| matches!(*c, "TransactionConflict" | "None"))
}

impl Store {
    /// Sends a transaction, again while it meets another in flight.
    pub(super) async fn transact(
        &self,
        tx: TransactWriteItemsFluentBuilder,
    ) -> Result<TransactWriteItemsOutput, SdkError<TransactWriteItemsError>> {
        resend_on_conflict(|| tx.clone().send(), transaction_conflict).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;
    use aws_sdk_dynamodb::types::CancellationReason;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn cancelled(codes: &[&str]) -> SdkError<TransactWriteItemsError, ()> {
        let reasons = codes
            .iter()
            .map(|c| CancellationReason::builder().code(*c).build())
            .collect();
        SdkError::service_error(
            TransactWriteItemsError::TransactionCanceledException(
                TransactionCanceledException::builder()
                    .set_cancellation_reasons(Some(reasons))
                    .build(),
            ),
            (),
        )
    }

    #[test]
    fn only_a_cancellation_for_transactions_in_flight_is_sent_again() {
        assert!(transaction_conflict(&cancelled(&[
            "None",
            "TransactionConflict"
        ])));
        assert!(!transaction_conflict(&cancelled(&[
            "ConditionalCheckFailed",
            "TransactionConflict"
        ])));
        assert!(!transaction_conflict(&cancelled(&["None", "None"])));
    }

    #[tokio::test]
    async fn a_conflict_is_sent_again_until_it_clears_or_the_attempts_run_out() {
        let waits = [Duration::ZERO; 5];
        let attempts = AtomicU32::new(0);
        let send = |clears_after: u32| {
            let attempts = &attempts;
            move || {
                let n = attempts.fetch_add(1, Ordering::SeqCst);
                async move {
                    match n < clears_after {
                        true => Err(cancelled(&["TransactionConflict"])),
                        false => Ok(n),
                    }
                }
            }
        };
        let cleared = resend_after(&waits, send(2), transaction_conflict).await;
        assert_eq!(cleared.ok(), Some(2));
        attempts.store(0, Ordering::SeqCst);
        let lasting = resend_after(&waits, send(100), transaction_conflict).await;
        assert!(lasting.is_err());
        assert_eq!(attempts.load(Ordering::SeqCst), 6);
    }
}

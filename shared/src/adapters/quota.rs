//! Quotas are not throttles. The SDK's standard retry takes some quota
//! answers for throttling and retries them (ACM's `LimitExceededException`,
//! API Gateway's `TooManyRequestsException` naming a `limitType`); no retry
//! passes a quota, so each adapter's client gets this classifier, which
//! forbids retrying what its predicate says is one.

use aws_smithy_runtime_api::client::interceptors::context::Error as OperationError;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};

/// Forbids retrying an operation error `is_quota` says is a quota.
#[derive(Debug)]
pub struct QuotaIsNotAThrottle {
    pub is_quota: fn(&OperationError) -> bool,
}

impl ClassifyRetry for QuotaIsNotAThrottle {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let quota = ctx
            .output_or_error()
            .and_then(|r| r.err())
            .and_then(|e| e.as_operation_error())
            .is_some_and(|e| (self.is_quota)(e));
        match quota {
            true => RetryAction::RetryForbidden,
            false => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "QuotaIsNotAThrottle"
    }
}

//! What one step of the driver did, and the step any stage may end in:
//! the CA declared the order invalid.

use crate::app::App;
use crate::domain::{AcmeOrder, Stage};
use crate::error::Error;

/// What one step did.
pub(super) enum Step {
    Advanced,
    Waiting,
}

/// Removes a delegated order's TXT record once the CA no longer needs it
/// (a failure is logged: the record is harmless and replaced next time).
pub(super) async fn remove_delegated_record(app: &App, order: &AcmeOrder) {
    let (Some(zone), Some(label)) = (&app.delegation, order.delegation_label.as_deref()) else {
        return;
    };
    if !order.delegated {
        return;
    }
    let target = zone.target(label);
    if let Err(e) = zone.remove_txt(&target, &order.challenge.txt_value).await {
        tracing::warn!(domain = %order.domain, error = %e, "could not remove the delegated TXT record");
    }
}

pub(super) async fn fail(
    app: &App,
    order: &mut AcmeOrder,
    problem: Option<String>,
) -> Result<Step, Error> {
    remove_delegated_record(app, order).await;
    if let Err(e) = crate::flows::acme::limits::validation_failed(app, &order.domain).await {
        tracing::warn!(domain = %order.domain, error = %e, "could not count the failed validation");
    }
    order.failure = Some(problem.unwrap_or_else(|| "the order became invalid".into()));
    order.advance(Stage::Invalid)?;
    app.store.save_order(order).await?;
    tracing::warn!(domain = %order.domain, failure = ?order.failure, "order invalid");
    Ok(Step::Advanced)
}

//! Step 2 of the DNS-01 path: from a published TXT record to a certificate
//! served by CloudFront.
//!
//! Runs the order's stages one after another (see `domain::acme_order`),
//! saving after each. It always makes at least one step of progress, then
//! stops when the time budget (`COMPLETE_TIME_BUDGET_MS`) is spent and
//! answers `InProgress`: the next call resumes from the saved stage, so no
//! call ever approaches API Gateway's 30 s limit and a crash loses at most
//! the step under way. Every step is safe to repeat.

use base64::prelude::{Engine, BASE64_STANDARD};
use instant_acme::OrderStatus;
use tokio::time::Instant;

use crate::adapters::acme;
use crate::adapters::dns::TxtObservation;
use crate::app::App;
use crate::domain::certificate::{inspect, key_matches, new_key_and_csr, split_chain};
use crate::domain::{
    AcmeOrder, DomainMapping, DomainName, Edge, IssuedCertificate, PendingKey, Stage, TenantId,
};
use crate::error::Error;
use crate::flows::account::with_account;

const KEY_PURPOSE: &str = "certificate-key";

pub enum Progress {
    /// The hostname is served with its certificate.
    Done(AcmeOrder),
    /// The budget ran out at this stage; call again to continue.
    InProgress(AcmeOrder),
}

/// What one step did.
enum Step {
    Advanced,
    Waiting,
}

pub async fn complete_certificate(
    app: &App,
    org: &TenantId,
    domain: &DomainName,
) -> Result<Progress, Error> {
    let deadline = Instant::now() + app.config.time_budget;
    let mut order = match app.store.load_order(domain).await? {
        Some(o) if o.belongs_to(org) => o,
        _ => {
            return Err(Error::NotFound(format!(
                "organisation {org} has no certificate order for {domain}; call start-certificate first"
            )))
        }
    };
    loop {
        let step = match order.stage {
            Stage::Attached => return Ok(Progress::Done(order)),
            Stage::Invalid => {
                return Err(Error::Rejected {
                    code: "order_invalid",
                    message: format!(
                        "the certificate authority refused the order for {domain}: {}; call start-certificate to begin a new order",
                        order.failure.as_deref().unwrap_or("no reason given")
                    ),
                })
            }
            Stage::AwaitingDns => publish_challenge(app, &mut order).await?,
            Stage::Validating => await_validation(app, &mut order, deadline).await?,
            Stage::Finalizing => obtain_certificate(app, &mut order, deadline).await?,
            Stage::Issued => import(app, &mut order).await?,
            Stage::Imported => attach(app, &mut order).await?,
        };
        if order.stage == Stage::Invalid {
            continue; // answers the CA's reason
        }
        if matches!(step, Step::Waiting) || Instant::now() >= deadline {
            if order.stage == Stage::Attached {
                return Ok(Progress::Done(order));
            }
            return Ok(Progress::InProgress(order));
        }
    }
}

/// AwaitingDns → Validating: check the TXT record ourselves, then tell the
/// CA. A missing record changes nothing and costs no CA validation attempt.
async fn publish_challenge(app: &App, order: &mut AcmeOrder) -> Result<Step, Error> {
    let expected = &order.challenge.txt_value;
    let seen = app.dns.observe(&order.challenge.txt_name).await;
    if !seen.iter().any(|o| o.values.iter().any(|v| v == expected)) {
        return Err(precheck_failed(order, &seen));
    }
    let url = order.order_url.clone();
    with_account(app, |account| {
        let url = url.clone();
        async move { acme::answer_challenge(&account, &url).await }
    })
    .await?;
    order.advance(Stage::Validating)?;
    app.store.save_order(order).await?;
    Ok(Step::Advanced)
}

fn precheck_failed(order: &AcmeOrder, seen: &[TxtObservation]) -> Error {
    let found: Vec<String> = seen
        .iter()
        .map(|o| match (&o.error, o.values.is_empty()) {
            (Some(e), _) => format!("{}: no answer ({e})", o.source),
            (None, true) => format!("{}: no TXT record", o.source),
            (None, false) => format!("{}: {}", o.source, o.values.join(", ")),
        })
        .collect();
    Error::Precondition {
        code: "dns_record_missing",
        message: format!(
            "the TXT record {} with value {} was not found ({}); publish it and call complete-certificate again",
            order.challenge.txt_name,
            order.challenge.txt_value,
            found.join("; ")
        ),
        details: Some(serde_json::json!({
            "expected": { "name": order.challenge.txt_name, "type": "TXT", "value": order.challenge.txt_value },
            "found": seen,
        })),
    }
}

/// Validating → Finalizing: wait for the CA's verdict; once the order is
/// ready, make the key and CSR and save them (sealed) before finalising, so
/// a retried finalise uses the same key.
async fn await_validation(
    app: &App,
    order: &mut AcmeOrder,
    deadline: Instant,
) -> Result<Step, Error> {
    let (status, problem) = poll(app, order, deadline).await?;
    match status {
        OrderStatus::Pending => Ok(Step::Waiting),
        OrderStatus::Invalid => fail(app, order, problem).await,
        OrderStatus::Ready | OrderStatus::Processing | OrderStatus::Valid => {
            if order.pending_key.is_none() {
                let (key_pem, csr) = new_key_and_csr(&order.domain)?;
                let sealed_key = app
                    .sealer
                    .seal(KEY_PURPOSE, order.domain.as_str(), key_pem.as_bytes())
                    .await?;
                order.pending_key = Some(PendingKey {
                    sealed_key,
                    csr: BASE64_STANDARD.encode(csr),
                });
            }
            order.advance(Stage::Finalizing)?;
            app.store.save_order(order).await?;
            Ok(Step::Advanced)
        }
    }
}

/// Finalizing → Issued: send the CSR, wait for the certificate, save chain
/// and sealed key. Nothing after this point can lose the certificate.
async fn obtain_certificate(
    app: &App,
    order: &mut AcmeOrder,
    deadline: Instant,
) -> Result<Step, Error> {
    let pending = order
        .pending_key
        .clone()
        .ok_or_else(|| Error::Internal("finalizing without a saved key".into()))?;
    let csr = BASE64_STANDARD
        .decode(&pending.csr)
        .map_err(|_| Error::Internal("stored CSR is not base64".into()))?;
    let url = order.order_url.clone();
    with_account(app, |account| {
        let (url, csr) = (url.clone(), csr.clone());
        async move { acme::finalize(&account, &url, &csr).await }
    })
    .await?;
    let (status, problem) = poll(app, order, deadline).await?;
    match status {
        OrderStatus::Invalid => return fail(app, order, problem).await,
        OrderStatus::Valid => {}
        _ => return Ok(Step::Waiting),
    }
    let chain = with_account(app, |account| {
        let url = url.clone();
        async move { acme::download_certificate(&account, &url).await }
    })
    .await?
    .ok_or_else(|| Error::Internal("order valid but no certificate".into()))?;
    let facts = inspect(&chain)?;
    let key_pem = app
        .sealer
        .open(KEY_PURPOSE, order.domain.as_str(), &pending.sealed_key)
        .await?;
    let key_pem = String::from_utf8(key_pem)
        .map_err(|_| Error::Internal("stored key is not UTF-8".into()))?;
    if !key_matches(&key_pem, &facts)? {
        return Err(Error::Internal(
            "the issued certificate does not match the saved key".into(),
        ));
    }
    order.certificate = Some(IssuedCertificate {
        chain_pem: chain,
        sealed_key: pending.sealed_key,
        serial: facts.serial,
        not_before: facts.not_before,
        not_after: facts.not_after,
    });
    order.pending_key = None;
    order.advance(Stage::Issued)?;
    app.store.save_order(order).await?;
    tracing::info!(domain = %order.domain, "certificate issued and saved");
    Ok(Step::Advanced)
}

/// Issued → Imported: into ACM in us-east-1. A retry after a lost answer
/// finds the certificate the earlier attempt imported instead of importing
/// a second copy.
async fn import(app: &App, order: &mut AcmeOrder) -> Result<Step, Error> {
    let cert = order
        .certificate
        .clone()
        .ok_or_else(|| Error::Internal("issued without a certificate".into()))?;
    let mut arn = None;
    if order.import_started {
        let leaf = split_chain(&cert.chain_pem)?.leaf_pem;
        arn = app
            .edge_certificates
            .find_imported(&order.domain, leaf)
            .await?;
    } else {
        order.import_started = true;
        app.store.save_order(order).await?;
    }
    let arn = match arn {
        Some(arn) => arn,
        None => {
            let key_pem = app
                .sealer
                .open(KEY_PURPOSE, order.domain.as_str(), &cert.sealed_key)
                .await?;
            let key_pem = String::from_utf8(key_pem)
                .map_err(|_| Error::Internal("stored key is not UTF-8".into()))?;
            let chain = split_chain(&cert.chain_pem)?;
            app.edge_certificates
                .import(
                    &order.domain,
                    chain.leaf_pem,
                    chain.intermediates_pem,
                    &key_pem,
                    order.certificate_arn.as_deref(),
                )
                .await?
        }
    };
    order.certificate_arn = Some(arn);
    order.advance(Stage::Imported)?;
    app.store.save_order(order).await?;
    Ok(Step::Advanced)
}

/// Imported → Attached: the hostname and certificate onto the distribution,
/// and the live domain → organisation mapping recorded.
async fn attach(app: &App, order: &mut AcmeOrder) -> Result<Step, Error> {
    let arn = order
        .certificate_arn
        .clone()
        .ok_or_else(|| Error::Internal("imported without an ARN".into()))?;
    let distribution = order
        .distribution_id
        .clone()
        .ok_or_else(|| Error::Internal("order without a distribution".into()))?;
    let names = match &order.certificate {
        Some(c) => inspect(&c.chain_pem)?.dns_names,
        None => return Err(Error::Internal("imported without a certificate".into())),
    };
    app.distributions
        .attach(&distribution, &order.domain, &arn, &names)
        .await?;
    app.store
        .put_mapping(&DomainMapping {
            domain: order.domain.clone(),
            tenant_id: order.org_id.clone(),
            edge: Edge::Cloudfront,
            target: distribution.clone(),
            certificate_arn: arn.clone(),
            configured_at: crate::now_rfc3339(),
        })
        .await?;
    order.advance(Stage::Attached)?;
    app.store.save_order(order).await?;
    tracing::info!(domain = %order.domain, distribution, "hostname attached");
    Ok(Step::Advanced)
}

async fn poll(
    app: &App,
    order: &AcmeOrder,
    deadline: Instant,
) -> Result<(OrderStatus, Option<String>), Error> {
    let url = order.order_url.clone();
    let interval = app.config.acme_poll_interval;
    with_account(app, |account| {
        let url = url.clone();
        async move { acme::poll_order(&account, &url, interval, deadline).await }
    })
    .await
}

async fn fail(app: &App, order: &mut AcmeOrder, problem: Option<String>) -> Result<Step, Error> {
    order.failure = Some(problem.unwrap_or_else(|| "the order became invalid".into()));
    order.advance(Stage::Invalid)?;
    app.store.save_order(order).await?;
    tracing::warn!(domain = %order.domain, failure = ?order.failure, "order invalid");
    Ok(Step::Advanced)
}

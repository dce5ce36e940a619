//! Issued → Imported → Attached: the certificate into ACM (a new one, or
//! re-imported into the served certificate's ARN), then each new name onto
//! its distribution or distribution tenant.

use super::obtain::KEY_PURPOSE;
use super::step::Step;
use crate::adapters::acm::Imported;
use crate::adapters::cloudfront::Outcome;
use crate::app::App;
use crate::domain::certificate::{inspect, split_chain};
use crate::domain::{
    AcmeOrder, DomainMapping, DomainName, Edge, HostnameRecords, Purpose, ServedCertificate, Stage,
    Timestamp,
};
use crate::error::Error;

async fn open_key(app: &App, order: &AcmeOrder, sealed: &str) -> Result<String, Error> {
    let key_pem = app
        .sealer
        .open(KEY_PURPOSE, order.domain.as_str(), sealed)
        .await?;
    String::from_utf8(key_pem).map_err(|_| Error::Internal("stored key is not UTF-8".into()))
}

/// Issued → Imported: into ACM in us-east-1. A first issuance imports a new
/// certificate; a retry after a lost answer finds the one the earlier
/// attempt imported instead of importing a second copy. A renewal
/// re-imports into the served certificate's ARN (repeating that is
/// harmless: the same certificate replaces itself).
pub(super) async fn import(
    app: &App,
    order: &mut AcmeOrder,
    served: Option<&ServedCertificate>,
    key_in_hand: Option<String>,
) -> Result<Step, Error> {
    let cert = order
        .certificate
        .clone()
        .ok_or_else(|| Error::Internal("issued without a certificate".into()))?;
    let chain = split_chain(&cert.chain_pem)?;
    let mut arn = served.map(|s| s.certificate_arn.clone());
    if arn.is_none() {
        // A key in hand: this call saved the certificate, nothing was
        // imported yet. Otherwise an earlier call may have imported it
        // (`import_started` is set with the certificate; orders saved
        // before that set it here).
        if order.import_started && key_in_hand.is_none() {
            arn = app
                .edge_certificates
                .find_imported(&order.domain, chain.leaf_pem)
                .await?;
        } else if !order.import_started {
            order.import_started = true;
            app.store.save_order(order).await?;
        }
    }
    let reimport = served.is_some();
    let arn = match arn {
        Some(existing) if !reimport => existing,
        into => {
            let key_pem = match key_in_hand {
                Some(key) => key,
                None => open_key(app, order, &cert.sealed_key).await?,
            };
            match app
                .edge_certificates
                .import(
                    &order.domain,
                    chain.leaf_pem,
                    chain.intermediates_pem,
                    &key_pem,
                    into.as_deref(),
                )
                .await?
            {
                Imported::Arn(arn) => arn,
                // ACM kept throttling (it imported nothing): the order stays
                // issued and the next call imports (202, progress kept; a
                // renewal is not counted as failed).
                Imported::Throttled => return Ok(Step::Waiting),
            }
        }
    };
    order.certificate_arn = Some(arn);
    order.imported_at = Some(Timestamp::now());
    order.advance(Stage::Imported)?;
    if order.purpose != Purpose::Renew {
        // Where the organisation's hostnames go now (the platform may have
        // recorded a distribution for it since the order was placed).
        retarget(app, order).await;
        // The attach comes next, and may take effect before its answer is
        // seen: marked in this same save (one write less per issuance).
        // Only a refused attach clears it, making the order movable.
        order.attach_started = true;
    }
    app.store.save_order(order).await?;
    Ok(Step::Advanced)
}

/// Moves a single hostname's first issuance to where the organisation's
/// hostnames go now, if that changed (changes the order; saved by the
/// caller).
async fn retarget(app: &App, order: &mut AcmeOrder) {
    if order.attach_started || order.purpose != Purpose::Issue || order.names.len() > 1 {
        return;
    }
    let Ok(to) = crate::flows::acme::order::edge_for(app, &order.org_id).await else {
        return;
    };
    if (to.edge, Some(&to.distribution_id)) != (order.edge, order.distribution_id.as_ref()) {
        tracing::info!(domain = %order.domain, from = ?order.distribution_id, to = %to.distribution_id, edge = ?to.edge, "re-targeting the order to the organisation's current edge");
        order.edge = to.edge;
        order.distribution_id = Some(to.distribution_id);
    }
}

/// How long after an import CloudFront refusing the certificate
/// (`InvalidViewerCertificate`) is taken for ACM and CloudFront not agreeing
/// yet, and waited out: AWS documents no figure (Terraform's AWS provider
/// retries for about a minute, hashicorp/terraform-provider-aws#4698);
/// later, the refusal is final.
const CERTIFICATE_SETTLE: std::time::Duration = std::time::Duration::from_secs(300);

/// Imported → Attached (a first issuance, or names added to a served
/// certificate): each new name onto the distribution (or its distribution
/// tenant). Answers each attached name's live domain → organisation
/// mapping, which the promotion writes; `None` when CloudFront cannot take
/// the change yet (`adapters::cloudfront::NotYet`: the order stays
/// imported, and the next call attaches). `served` is the certificate whose
/// names are already attached.
pub(super) async fn attach(
    app: &App,
    order: &mut AcmeOrder,
    served: Option<&ServedCertificate>,
    deadline: tokio::time::Instant,
) -> Result<Option<Vec<DomainMapping>>, Error> {
    // Re-targeted after a refused attach (which cleared `attach_started`).
    if !order.attach_started {
        let before = (order.edge, order.distribution_id.clone());
        retarget(app, order).await;
        if (order.edge, order.distribution_id.clone()) != before {
            app.store.save_order(order).await?;
        }
    }
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
    if !order.attach_started {
        order.attach_started = true;
        order.failure = None;
        app.store.save_order(order).await?;
    }
    let attached_before = served
        .map(ServedCertificate::certificate_names)
        .unwrap_or_default();
    let mut mappings = Vec::new();
    for name in order.certificate_names() {
        if attached_before.contains(&name) {
            continue;
        }
        // A name its tenant released (or is releasing) since the order was
        // placed is not put back. (The promotion's transaction checks the
        // claim again, so no mapping is written for a name released after
        // this read.)
        let claim = HostnameRecords {
            owner: app.store.load_owner(&name).await?,
            ..HostnameRecords::default()
        };
        if !claim.is_owned_by(&order.org_id) || claim.is_releasing() {
            tracing::info!(domain = %name, "not attaching a name released since the order");
            continue;
        }
        // The classic distribution: the hostname becomes one of its
        // aliases. The shared edge: a distribution tenant of its own on the
        // multi-tenant distribution. Either way, where the hostname must
        // point is kept.
        let target = match attach_to_edge(app, order, &name, &distribution, &arn, &names, deadline)
            .await
        {
            Ok(Outcome::Done(target)) => target,
            Ok(Outcome::NotYet(why)) => {
                tracing::info!(domain = %name, reason = why.reason(), "the attach waits for CloudFront");
                return Ok(None);
            }
            // Refused, nothing changed at CloudFront: the order may be
            // re-targeted by a later call.
            Err(e @ Error::Conflict { .. }) => {
                order.attach_started = false;
                // Why, for the status route (`domain::lifecycle`'s
                // attach-refused state).
                order.failure = Some(e.public_message());
                app.store.save_order(order).await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        mappings.push(DomainMapping {
            domain: name.clone(),
            tenant_id: order.org_id.clone(),
            edge: match order.edge {
                Edge::CloudfrontTenant => Edge::CloudfrontTenant,
                _ => Edge::Cloudfront,
            },
            target,
            certificate_arn: arn.clone(),
            configured_at: Timestamp::now(),
            dns_target: order.dns_target.clone(),
        });
        tracing::info!(domain = %name, distribution, "hostname attached");
    }
    // Not saved: promotion follows in the same step (`drive_steps`).
    order.advance(Stage::Attached)?;
    Ok(Some(mappings))
}

/// Puts `name` on its edge; answers the mapping's target.
async fn attach_to_edge(
    app: &App,
    order: &mut AcmeOrder,
    name: &DomainName,
    distribution: &str,
    arn: &str,
    names: &[String],
    deadline: tokio::time::Instant,
) -> Result<Outcome<String>, Error> {
    Ok(Outcome::Done(match order.edge {
        Edge::CloudfrontTenant => {
            let tenant = app
                .distributions
                .attach_tenant(
                    distribution,
                    name,
                    arn,
                    app.config.connection_group_id.as_deref(),
                )
                .await?;
            order.dns_target = tenant.routing_endpoint;
            tenant.tenant_id
        }
        _ => {
            // The update's answer names the distribution's domain; when
            // nothing needed changing, it is read.
            let settling = order.imported_at.is_some_and(|at| {
                Timestamp::now().unix() - at.unix() < CERTIFICATE_SETTLE.as_secs() as i64
            });
            order.dns_target = match app
                .distributions
                .attach(distribution, name, arn, names, settling, deadline)
                .await?
            {
                Outcome::Done(Some(domain_name)) => Some(domain_name),
                Outcome::Done(None) => app.distributions.domain_name(distribution).await?,
                Outcome::NotYet(why) => return Ok(Outcome::NotYet(why)),
            };
            distribution.to_owned()
        }
    }))
}

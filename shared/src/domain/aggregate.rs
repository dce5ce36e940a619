//! Everything stored about one hostname, loaded together (one Query on its
//! partition), and what follows from it: where the hostname stands and who
//! must act next.

use serde::Serialize;

use super::{AcmRequest, AcmStage, AcmeOrder, DomainMapping, DomainName, Purpose, Stage};
use super::{ServedCertificate, TenantId, Timestamp};

/// Who holds a hostname.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub tenant_id: TenantId,
    /// Unchanged until the name is released (idempotency tokens use it).
    pub claimed_at: String,
    /// This claim's label in the delegation zone: the tenant may point
    /// `_acme-challenge.<host>` at `<label>.<zone>`. Random per claim, so a
    /// later claimant's never matches a CNAME an earlier owner left.
    pub delegation_label: Option<String>,
    /// Set when its owner asked to release the name: from then on nothing
    /// new is claimed, ordered or attached for it.
    pub releasing_since: Option<Timestamp>,
    /// The release's steps done so far (`flows::release_domain`).
    pub release_done: Vec<String>,
    /// When the tenant first proved control of the name by DNS (its TXT or
    /// CNAME seen, or ACM's validation passed). An unproven claim expires.
    pub proven_at: Option<Timestamp>,
}

/// One hostname's records, each at most once.
#[derive(Clone, Debug, Default)]
pub struct HostnameRecords {
    pub owner: Option<Owner>,
    /// The ACME order in flight (first issuance or renewal).
    pub order: Option<AcmeOrder>,
    /// The hostname whose order in flight will add this one to its
    /// certificate (an organisation's own distribution serving several).
    pub order_ref: Option<DomainName>,
    /// The certificate served on the ACME path.
    pub served: Option<ServedCertificate>,
    /// The ACM path's request.
    pub acm_request: Option<AcmRequest>,
    /// The live domain → tenant mapping (both paths).
    pub mapping: Option<DomainMapping>,
    /// Whether the live hostname points at its edge (`check-domains`).
    pub dns: Option<super::DnsHealth>,
}

/// Who must act for a hostname to move on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The tenant (publish a DNS record, call a route).
    Tenant,
    /// The platform's operators (a renewal keeps failing).
    Platform,
    /// No one: the product carries on by itself.
    Nobody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NextAction {
    pub actor: Actor,
    /// A stable code for the action, e.g. `publish_txt_record`.
    pub action: &'static str,
    pub message: String,
}

fn act(actor: Actor, action: &'static str, message: String) -> NextAction {
    NextAction {
        actor,
        action,
        message,
    }
}

impl HostnameRecords {
    pub fn is_owned_by(&self, tenant: &TenantId) -> bool {
        self.owner.as_ref().is_some_and(|o| &o.tenant_id == tenant)
    }

    /// Whether the owner is releasing the name.
    pub fn is_releasing(&self) -> bool {
        self.owner
            .as_ref()
            .is_some_and(|o| o.releasing_since.is_some())
    }

    /// The ACME path's overall status of the hostname.
    pub fn acme_status(&self) -> &'static str {
        match (&self.served, &self.order) {
            (Some(s), _) if s.renewal.gave_up => "renewal_failing",
            (Some(_), None) => "active",
            (Some(_), Some(o)) if o.purpose == Purpose::Extend && o.stage != Stage::Invalid => {
                "adding_names"
            }
            (Some(_), Some(o)) => match o.stage {
                Stage::AwaitingDns => "renewal_awaiting_dns",
                Stage::Invalid => "renewal_failing",
                _ => "renewing",
            },
            (None, Some(o)) => match o.stage {
                Stage::AwaitingDns => "pending_validation",
                Stage::Invalid => "failed",
                _ => "issuing",
            },
            (None, None) => "claimed",
        }
    }

    /// The `proxy_status` of the served hostname, or of its first order.
    pub fn proxy_status(&self) -> &'static str {
        match (&self.served, &self.order) {
            (Some(_), _) => Stage::Attached.proxy_status(),
            (None, Some(o)) => o.stage.proxy_status(),
            (None, None) => "NOT_STARTED",
        }
    }

    /// Who must act next on the ACME path, and what.
    pub fn acme_next_action(&self, domain: &DomainName) -> NextAction {
        let txt = |o: &AcmeOrder| {
            let needed: Vec<String> = o
                .all_challenges()
                .iter()
                .filter(|c| c.required)
                .map(|c| {
                    format!(
                        "a TXT record named {} with the value {}",
                        c.challenge.txt_name, c.challenge.txt_value
                    )
                })
                .collect();
            match needed.is_empty() {
                true => "nothing needs publishing".to_owned(),
                false => format!("add {}", needed.join(" and ")),
            }
        };
        match (&self.served, &self.order) {
            (None, None) => act(
                Actor::Tenant,
                "start_certificate",
                format!("call start-certificate for {domain}"),
            ),
            (None, Some(o)) => match o.stage {
                Stage::AwaitingDns => act(
                    Actor::Tenant,
                    "publish_txt_record",
                    format!("{}, then call complete-certificate", txt(o)),
                ),
                Stage::Invalid => act(
                    Actor::Tenant,
                    "start_certificate",
                    format!(
                        "the certificate authority refused the order ({}); call start-certificate to begin again",
                        o.failure.as_deref().unwrap_or("no reason given")
                    ),
                ),
                _ => act(
                    Actor::Tenant,
                    "complete_certificate",
                    "call complete-certificate to continue".to_owned(),
                ),
            },
            (Some(s), order) => {
                if s.renewal.gave_up {
                    return act(
                        Actor::Platform,
                        "investigate_renewal",
                        format!(
                            "renewal failed {} times ({}); fix the cause and call renew-certificate",
                            s.renewal.failures,
                            s.renewal.last_error.as_deref().unwrap_or("no reason recorded")
                        ),
                    );
                }
                if let Some(o) = order.as_ref().filter(|o| o.purpose == Purpose::Extend) {
                    if o.stage == Stage::AwaitingDns {
                        return act(
                            Actor::Tenant,
                            "publish_txt_record",
                            format!(
                                "names are being added to the certificate ({}): {}, then call complete-certificate",
                                o.certificate_names().iter().map(DomainName::as_str).collect::<Vec<_>>().join(", "),
                                txt(o)
                            ),
                        );
                    }
                }
                if let Some(o) = order.as_ref().filter(|o| o.purpose == Purpose::Renew) {
                    // A delegated hostname's record is the product's to write.
                    if o.stage == Stage::AwaitingDns && !s.delegated {
                        return act(
                            Actor::Tenant,
                            "publish_txt_record",
                            format!(
                                "the certificate is being renewed: {} before {} (the current certificate expires then)",
                                txt(o),
                                s.not_after
                            ),
                        );
                    }
                }
                if s.renewal.failures > 0 {
                    return act(
                        Actor::Nobody,
                        "retrying_renewal",
                        format!(
                            "renewal failed {} time(s) ({}); retrying at {}",
                            s.renewal.failures,
                            s.renewal.last_error.as_deref().unwrap_or("no reason recorded"),
                            s.renewal.due_at().unwrap_or(s.renewal.renew_after)
                        ),
                    );
                }
                if order.is_some() {
                    return act(
                        Actor::Nobody,
                        "renewing",
                        "the certificate is being renewed".to_owned(),
                    );
                }
                if let Some(dns) = self.dns_action(domain) {
                    return dns;
                }
                act(
                    Actor::Nobody,
                    "none",
                    format!(
                        "served; renews automatically from {}",
                        s.renewal.renew_after
                    ),
                )
            }
        }
    }

    /// What the tenant must do about a live hostname's DNS, if anything
    /// (`check-domains`' last look): point it at its edge.
    pub fn dns_action(&self, domain: &DomainName) -> Option<NextAction> {
        // Not resolved yet: nothing known to ask for.
        let dns = self.dns.as_ref().filter(|d| d.checked_at.is_some())?;
        let target = dns.expected.as_deref().unwrap_or("its edge");
        match dns.state {
            super::Pointing::Pointed => None,
            super::Pointing::AwaitingDns => Some(act(
                Actor::Tenant,
                "point_dns",
                format!("{domain} is served: point it at {target} (a CNAME record, or your DNS host's ALIAS for an apex)"),
            )),
            super::Pointing::Misconfigured => Some(act(
                Actor::Tenant,
                "fix_dns",
                format!(
                    "{domain} no longer points at {target} (found: {}); point it back, or it is detached after the grace period",
                    if dns.found.is_empty() { "nothing".to_owned() } else { dns.found.join(", ") }
                ),
            )),
        }
    }

    /// Which path the hostname is on, if any.
    pub fn path(&self) -> Option<&'static str> {
        if self.served.is_some() || self.order.is_some() {
            Some("acme")
        } else if self.acm_request.is_some() {
            Some("acm")
        } else {
            None
        }
    }

    /// The ACM path's status and next action.
    pub fn acm_status(&self) -> Option<(&'static str, NextAction)> {
        let r = self.acm_request.as_ref()?;
        Some(match r.stage {
            AcmStage::Requested => (
                "pending_validation",
                act(
                    Actor::Tenant,
                    "publish_cname_records",
                    "add the validation CNAME records and poll the domain's status".to_owned(),
                ),
            ),
            AcmStage::DomainCreated | AcmStage::Mapped => (
                "configuring",
                act(
                    Actor::Tenant,
                    "poll_status",
                    "poll the domain's status to finish the setup".to_owned(),
                ),
            ),
            AcmStage::Configured => (
                "active",
                self.dns_action(&r.domain).unwrap_or_else(|| {
                    act(
                        Actor::Nobody,
                        "none",
                        "served; ACM renews the certificate itself".to_owned(),
                    )
                }),
            ),
            AcmStage::Failed => (
                "failed",
                act(
                    Actor::Tenant,
                    "release_and_request",
                    format!(
                        "ACM did not issue ({}); release the domain and request it again",
                        r.failure.as_deref().unwrap_or("no reason given")
                    ),
                ),
            ),
        })
    }

    /// The served certificate's expiry (ACME path; ACM renews its own, and
    /// this product does not read their expiry).
    pub fn not_after(&self) -> Option<Timestamp> {
        self.served.as_ref().map(|s| s.not_after)
    }
}

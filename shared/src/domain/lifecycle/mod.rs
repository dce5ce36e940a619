//! A hostname's life as one type: where it stands, derived once from its
//! stored records ([`HostnameRecords::lifecycle`]), and what follows from it
//! (the status the API reports, who must act next, what a release and the
//! renewal sweep do). The routes and flows match on [`Lifecycle`] instead of
//! re-deriving a state from which optional records exist.
//!
//! ```text
//!                 ┌────────────────────── releasing (steps, see ReleaseStep) ◄── any claimed state
//!                 ▼
//!  unclaimed ──► claimed ──► issuing: awaiting_dns ─► validating ─► finalizing ─► issued ─► imported ─► served
//!                  │            │                                                    │
//!                  │            ├─► refused (the CA declared the order invalid)      └─► attach_refused
//!                  │            └─ joining (a name on another hostname's order)
//!                  ├──► acm: validating ─► configuring ─► served (ACM renews)   or   failed
//!                  └──► managed: proving ─► validating ─► attaching ─► served (ACM renews)   or   failed ─► validating
//!
//!  served (ACME), its renewal phase:
//!    scheduled ─► renewing ─► (re-imported) scheduled
//!        │   ▲        ├─► awaiting_dns (the tenant's TXT, when not delegated)
//!        │   │        └─► refused ─► retrying ─► … ─► failing (escalated: the platform acts; still retried)
//!        └─► adding_names (a name joins the certificate)
//! ```
//!
//! Every state names who acts next ([`Actor`]); the tests at the end check,
//! for every reachable state, that a release and the scheduled sweep each
//! either make progress or say who must act.

use super::{AcmStage, AcmeOrder, Action, Actor, DomainName, Edge, HostnameRecords, NextAction};
use super::{ManagedStage, Purpose, Stage, Timestamp};

/// One step of a release, in the order they run (`flows::hostname::release`).
/// Stored on the claim by [`ReleaseStep::as_str`], which never changes (and
/// is what it serialises as).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStep {
    /// Off its CloudFront distribution, distribution tenant or API Gateway
    /// custom domain.
    Detached,
    /// Its certificate deleted from ACM.
    CertificateDeleted,
    /// The ACME order's authorizations deactivated at the CA.
    AuthorizationsDeactivated,
    /// The certificate revoked at the CA.
    Revoked,
    /// A name sharing its certificate: the others' records no longer name
    /// it, and their certificate is due for renewal.
    ReissueScheduled,
    /// The last step: every record of the name, the mapping and the claim.
    RecordsDeleted,
}

impl ReleaseStep {
    pub const ALL: [ReleaseStep; 6] = [
        ReleaseStep::Detached,
        ReleaseStep::CertificateDeleted,
        ReleaseStep::AuthorizationsDeactivated,
        ReleaseStep::Revoked,
        ReleaseStep::ReissueScheduled,
        ReleaseStep::RecordsDeleted,
    ];

    /// The name stored on the claim and shown in release answers.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStep::Detached => "detached",
            ReleaseStep::CertificateDeleted => "certificate_deleted",
            ReleaseStep::AuthorizationsDeactivated => "authorizations_deactivated",
            ReleaseStep::Revoked => "revoked",
            ReleaseStep::ReissueScheduled => "reissue_scheduled",
            ReleaseStep::RecordsDeleted => "records_deleted",
        }
    }

    pub fn parse(s: &str) -> Option<ReleaseStep> {
        ReleaseStep::ALL.into_iter().find(|step| step.as_str() == s)
    }
}

/// Where a served certificate's renewal stands (ACME path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Nothing in flight; renews from its renewal time.
    Scheduled,
    /// Nothing in flight; the last attempts failed and are retried after a
    /// backoff.
    Retrying { failures: u32 },
    /// A renewal order is with the CA, or its certificate is being imported.
    Renewing { stage: Stage, failures: u32 },
    /// A renewal order waits for its TXT record: the tenant's to publish,
    /// or the product's in the delegation zone.
    AwaitingDns { delegated: bool, failures: u32 },
    /// An order adds names to the certificate.
    AddingNames { stage: Stage, failures: u32 },
    /// The CA refused the renewal order (or the one adding names); the
    /// served certificate stays, the next attempt orders anew.
    Refused { failures: u32 },
    /// Failed `RENEWAL_MAX_ATTEMPTS` times in this cycle: the platform
    /// must find the cause, while the sweep goes on retrying daily
    /// (renew-now retries at once, in a new cycle).
    Failing { failures: u32 },
}

/// Where a first issuance on the ACME path stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Issuing {
    /// An order in flight at this stage (before it is attached).
    InFlight(Stage),
    /// The CA declared the order invalid: start again.
    Refused,
    /// The certificate is imported, but CloudFront refused to put the
    /// hostname on its edge (an alias another distribution holds, for
    /// example). `shared` when the order is for several names.
    AttachRefused { shared: bool },
}

/// The ACM path's phases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcmPhase {
    /// ACM waits for its validation CNAME records.
    Validating,
    /// Issued; the API Gateway custom domain and its mapping are being made.
    Configuring(AcmStage),
    /// Served; ACM renews the certificate itself.
    Served,
    /// ACM will not issue.
    Failed,
}

impl AcmPhase {
    /// The phase of a request at `stage`.
    pub fn of(stage: AcmStage) -> AcmPhase {
        match stage {
            AcmStage::Requested => AcmPhase::Validating,
            AcmStage::Failed => AcmPhase::Failed,
            AcmStage::Configured => AcmPhase::Served,
            stage => AcmPhase::Configuring(stage),
        }
    }

    /// The `status` of the ACM path's own status route
    /// (`GET /domains/status/{request_id}`), which predates the tenant's
    /// list and keeps its upper-case names.
    pub fn request_status(self) -> &'static str {
        match self {
            AcmPhase::Validating => "PENDING",
            AcmPhase::Configuring(_) => "CONFIGURING",
            AcmPhase::Served => "CONFIGURED",
            AcmPhase::Failed => "FAILED",
        }
    }
}

/// A CloudFront-managed certificate's phases (`domain::managed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManagedPhase {
    /// Waiting for the claimant's claim record.
    Proving,
    /// CloudFront waits for the name to point at the edge.
    Validating,
    /// Issued; being attached to the tenant (and, on a hand-off, the
    /// ACME certificate retired).
    Attaching,
    /// Served; ACM renews the certificate itself.
    Served,
    /// CloudFront did not issue on the last request: asked again once the
    /// name points at the edge.
    Failed,
}

impl ManagedPhase {
    pub fn of(stage: ManagedStage) -> ManagedPhase {
        match stage {
            ManagedStage::Proving => ManagedPhase::Proving,
            ManagedStage::Requested => ManagedPhase::Validating,
            ManagedStage::Issued | ManagedStage::Attached => ManagedPhase::Attaching,
            ManagedStage::Served => ManagedPhase::Served,
            ManagedStage::Failed => ManagedPhase::Failed,
        }
    }
}

/// A hostname's place in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// Nobody holds the name.
    Unclaimed,
    /// Held, nothing ordered or requested yet (or a name whose place on
    /// another hostname's certificate is gone).
    Claimed { proven: bool },
    /// The ACME path's first certificate.
    Issuing(Issuing),
    /// The ACME path: served, with its renewal phase.
    Served(Renewal),
    /// The ACM path.
    Acm(AcmPhase),
    /// A CloudFront-managed certificate on the shared edge (a first
    /// request, or a hand-off once attached).
    Managed(ManagedPhase),
    /// Its owner is releasing it: `done` steps so far; `from` is where it
    /// stood (still what the status reports until the records are gone).
    Releasing {
        done: Vec<ReleaseStep>,
        from: Box<Lifecycle>,
    },
}

impl HostnameRecords {
    /// Where the hostname stands, from its records. (A name waiting to join
    /// another hostname's certificate has that order in `order` when its
    /// status flow loaded it.)
    pub fn lifecycle(&self) -> Lifecycle {
        let Some(owner) = &self.owner else {
            return Lifecycle::Unclaimed;
        };
        let here = self.standing(owner.proven_at.is_some());
        match owner.releasing_since {
            None => here,
            Some(_) => Lifecycle::Releasing {
                done: owner
                    .release_done
                    .iter()
                    .filter_map(|s| ReleaseStep::parse(s))
                    .collect(),
                from: Box::new(here),
            },
        }
    }

    fn standing(&self, proven: bool) -> Lifecycle {
        // A hand-off under way stands where the ACME certificate stands
        // until the managed one is attached.
        if let Some(m) = self
            .managed
            .as_ref()
            .filter(|m| !m.handoff || m.is_attached() || self.served.is_none())
        {
            return Lifecycle::Managed(ManagedPhase::of(m.stage));
        }
        match (&self.served, &self.order, &self.acm_request) {
            (Some(s), order, _) => {
                let failures = s.renewal.failures;
                Lifecycle::Served(match order {
                    // Escalated, with nothing in flight that someone else
                    // must move (an order waiting for DNS names the tenant).
                    None if s.renewal.escalated => Renewal::Failing { failures },
                    None if failures > 0 => Renewal::Retrying { failures },
                    None => Renewal::Scheduled,
                    Some(o) if o.stage == Stage::Invalid && s.renewal.escalated => {
                        Renewal::Failing { failures }
                    }
                    Some(o) if o.stage == Stage::Invalid => Renewal::Refused { failures },
                    Some(o) if o.purpose == Purpose::Extend => Renewal::AddingNames {
                        stage: o.stage,
                        failures,
                    },
                    Some(o) if o.stage == Stage::AwaitingDns => Renewal::AwaitingDns {
                        delegated: s.delegated,
                        failures,
                    },
                    Some(o) => Renewal::Renewing {
                        stage: o.stage,
                        failures,
                    },
                })
            }
            (None, Some(o), _) => Lifecycle::Issuing(match o.stage {
                Stage::Invalid => Issuing::Refused,
                Stage::Imported if o.attach_refused() => Issuing::AttachRefused {
                    shared: o.names.len() > 1,
                },
                stage => Issuing::InFlight(stage),
            }),
            (None, None, Some(r)) => Lifecycle::Acm(AcmPhase::of(r.stage)),
            (None, None, None) => Lifecycle::Claimed { proven },
        }
    }

    /// The ACME path's overall status of the hostname.
    pub fn acme_status(&self) -> &'static str {
        self.lifecycle().status()
    }

    /// The `proxy_status` of the served hostname, or of its first order.
    pub fn proxy_status(&self) -> &'static str {
        match (&self.served, &self.order) {
            (Some(_), _) => Stage::Attached.proxy_status(),
            (None, Some(o)) => o.stage.proxy_status(),
            (None, None) => "NOT_STARTED",
        }
    }

    /// Which path the hostname is on, if any.
    pub fn path(&self) -> Option<&'static str> {
        self.lifecycle().path()
    }

    /// The edge the hostname is (or will be) served on, if it has one yet.
    pub fn edge(&self) -> Option<Edge> {
        match self.path()? {
            "acm" => Some(Edge::ApiGateway),
            "managed" => Some(Edge::CloudfrontTenant),
            _ => self
                .served
                .as_ref()
                .map(|s| s.edge)
                .or(self.order.as_ref().map(|o| o.edge)),
        }
    }

    /// Who must act next, and what.
    pub fn next_action(&self, domain: &DomainName) -> NextAction {
        self.action_for(&self.lifecycle(), domain)
    }

    /// The status the API reports for the hostname, on either path, and
    /// who must act next.
    pub fn status(&self, domain: &DomainName) -> (&'static str, NextAction) {
        let state = self.lifecycle();
        (state.status(), self.action_for(&state, domain))
    }

    fn action_for(&self, state: &Lifecycle, domain: &DomainName) -> NextAction {
        match state {
            Lifecycle::Unclaimed => act(
                Actor::Tenant,
                Action::StartCertificate,
                format!("call start-certificate for {domain}"),
            ),
            Lifecycle::Claimed { .. } => act(
                Actor::Tenant,
                Action::StartCertificate,
                format!("call start-certificate for {domain}"),
            ),
            Lifecycle::Releasing { from, .. } => match self.release_plan().is_empty() {
                // Released: nothing is left of it once the records go.
                true => self.action_for(from, domain),
                false => act(
                    Actor::Tenant,
                    Action::ReleaseDomain,
                    format!("{domain} is being released; call release-domain again to finish"),
                ),
            },
            Lifecycle::Issuing(issuing) => self.issuing_action(*issuing),
            Lifecycle::Served(renewal) => self.renewal_action(*renewal, domain),
            Lifecycle::Acm(phase) => self.acm_action(*phase),
            Lifecycle::Managed(phase) => self.managed_action(*phase, domain),
        }
    }

    fn managed_action(&self, phase: ManagedPhase, domain: &DomainName) -> NextAction {
        let Some(m) = &self.managed else {
            return act(Actor::Nobody, Action::None, "served".to_owned());
        };
        let target = m.dns_target.as_deref().unwrap_or("the edge");
        match phase {
            ManagedPhase::Proving => {
                let (name, value) = super::claim_record(domain, &m.org_id);
                act(
                    Actor::Tenant,
                    Action::PublishTxtRecord,
                    format!(
                        "add your claim record, a TXT record named {name} with the value {value} ({}), then call complete-certificate",
                        super::ClaimProof::SharedRoutingTarget.reason()
                    ),
                )
            }
            ManagedPhase::Validating => act(
                Actor::Tenant,
                Action::PointDns,
                format!(
                    "point {domain} at {target} (a CNAME record, or your DNS host's ALIAS for an apex): CloudFront issues the certificate once it does (now {}); then call complete-certificate",
                    m.reported_status()
                ),
            ),
            ManagedPhase::Attaching => act(
                Actor::Tenant,
                Action::CompleteCertificate,
                "the certificate is issued; call complete-certificate to put it on the edge".to_owned(),
            ),
            ManagedPhase::Served => self.dns_action(domain).unwrap_or_else(|| {
                act(
                    Actor::Nobody,
                    Action::None,
                    "served; ACM renews the CloudFront-managed certificate itself".to_owned(),
                )
            }),
            ManagedPhase::Failed => act(
                Actor::Tenant,
                Action::PointDns,
                format!(
                    "CloudFront did not issue the certificate ({}); point {domain} at {target}, then call complete-certificate to ask again",
                    m.failure.as_deref().unwrap_or("no reason given")
                ),
            ),
        }
    }

    fn issuing_action(&self, issuing: Issuing) -> NextAction {
        let Some(o) = &self.order else {
            return act(
                Actor::Tenant,
                Action::CompleteCertificate,
                "call complete-certificate to continue".to_owned(),
            );
        };
        match issuing {
            Issuing::InFlight(Stage::AwaitingDns) => act(
                Actor::Tenant,
                Action::PublishTxtRecord,
                format!("{}, then call complete-certificate", txt_records(o)),
            ),
            Issuing::Refused => act(
                Actor::Tenant,
                Action::StartCertificate,
                format!(
                    "the certificate authority refused the order ({}); call start-certificate to begin again",
                    o.failure.as_deref().unwrap_or("no reason given")
                ),
            ),
            // The order's other names are released with the hostname whose
            // order it is: that release deletes the imported certificate.
            Issuing::AttachRefused { shared: true } => act(
                Actor::Tenant,
                Action::ReleaseDomain,
                format!(
                    "CloudFront refused to serve the certificate for {} ({}); release {} to end the order, or call complete-certificate once the conflict is resolved",
                    names(o),
                    o.failure.as_deref().unwrap_or("no reason given"),
                    o.certificate_names().first().map(DomainName::as_str).unwrap_or_default(),
                ),
            ),
            Issuing::AttachRefused { shared: false } => act(
                Actor::Tenant,
                Action::CompleteCertificate,
                format!(
                    "CloudFront refused to serve the certificate ({}); call complete-certificate once the conflict is resolved, or release the domain",
                    o.failure.as_deref().unwrap_or("no reason given")
                ),
            ),
            Issuing::InFlight(_) => act(
                Actor::Tenant,
                Action::CompleteCertificate,
                "call complete-certificate to continue".to_owned(),
            ),
        }
    }

    fn renewal_action(&self, renewal: Renewal, domain: &DomainName) -> NextAction {
        let (Some(s), order) = (&self.served, &self.order) else {
            return act(Actor::Nobody, Action::None, "served".to_owned());
        };
        let failures = match renewal {
            Renewal::Failing { failures } => {
                return act(
                    Actor::Platform,
                    Action::InvestigateRenewal,
                    format!(
                        "renewal failed {failures} times ({}); it is retried daily until it succeeds: fix the cause, then call renew-certificate to retry at once",
                        s.renewal.last_error.as_deref().unwrap_or("no reason recorded")
                    ),
                )
            }
            Renewal::AddingNames {
                stage: Stage::AwaitingDns,
                ..
            } => {
                if let Some(o) = order {
                    return act(
                        Actor::Tenant,
                        Action::PublishTxtRecord,
                        format!(
                            "names are being added to the certificate ({}): {}, then call complete-certificate",
                            names(o),
                            txt_records(o)
                        ),
                    );
                }
                0
            }
            // CloudFront refused the certificate with the new names: the
            // names already served stay served; the new ones leave (their
            // release ends the order), start again without them, or the
            // conflict is resolved and complete-certificate attaches.
            Renewal::AddingNames {
                stage: Stage::Imported,
                ..
            } if order.as_ref().is_some_and(|o| o.attach_refused()) => {
                let o = order.as_ref().expect("checked above");
                let adding: Vec<String> = o
                    .certificate_names()
                    .into_iter()
                    .filter(|n| !s.certificate_names().contains(n))
                    .map(|n| n.to_string())
                    .collect();
                return act(
                    Actor::Tenant,
                    Action::ReleaseDomain,
                    format!(
                        "CloudFront refused to serve the certificate with {} ({}); the names already served stay served: release {} (or start again without them), or call complete-certificate once the conflict is resolved",
                        adding.join(", "),
                        o.failure.as_deref().unwrap_or("no reason given"),
                        adding.join(" and "),
                    ),
                );
            }
            // Only complete-certificate moves an order that adds names (the
            // sweep renews; it does not add): its caller must call again.
            Renewal::AddingNames { .. } => {
                return act(
                    Actor::Tenant,
                    Action::CompleteCertificate,
                    format!(
                        "names are being added to the certificate ({}); call complete-certificate to continue",
                        order.as_ref().map(names).unwrap_or_default()
                    ),
                );
            }
            // A delegated hostname's record is the product's to write.
            Renewal::AwaitingDns {
                delegated: false, ..
            } if order.as_ref().is_some_and(|o| o.purpose == Purpose::Renew) => {
                let o = order.as_ref().expect("checked above");
                return act(
                    Actor::Tenant,
                    Action::PublishTxtRecord,
                    format!(
                        "the certificate is being renewed: {} before {} (the current certificate expires then)",
                        txt_records(o),
                        s.certificate.not_after
                    ),
                );
            }
            Renewal::Scheduled => 0,
            Renewal::Retrying { failures }
            | Renewal::Renewing { failures, .. }
            | Renewal::AwaitingDns { failures, .. }
            | Renewal::Refused { failures } => failures,
        };
        if failures > 0 {
            return act(
                Actor::Nobody,
                Action::RetryingRenewal,
                format!(
                    "renewal failed {failures} time(s) ({}); retrying at {}",
                    s.renewal
                        .last_error
                        .as_deref()
                        .unwrap_or("no reason recorded"),
                    s.renewal.due_at().unwrap_or(s.renewal.renew_after)
                ),
            );
        }
        if renewal != Renewal::Scheduled {
            return act(
                Actor::Nobody,
                Action::Renewing,
                "the certificate is being renewed".to_owned(),
            );
        }
        if let Some(dns) = self.dns_action(domain) {
            return dns;
        }
        act(
            Actor::Nobody,
            Action::None,
            format!(
                "served; renews automatically from {}",
                s.renewal.renew_after
            ),
        )
    }

    fn acm_action(&self, phase: AcmPhase) -> NextAction {
        match phase {
            AcmPhase::Validating => act(
                Actor::Tenant,
                Action::PublishCnameRecords,
                match self.acm_request.as_ref().and_then(|r| r.ownership_due()) {
                    Some(o) => format!(
                        "add the validation CNAME records and your claim record, a TXT record named {} with the value {} ({}), and poll the domain's status",
                        o.record.name,
                        o.record.value,
                        o.reason.reason()
                    ),
                    None => "add the validation CNAME records and poll the domain's status".to_owned(),
                },
            ),
            AcmPhase::Configuring(_) => act(
                Actor::Tenant,
                Action::PollStatus,
                "poll the domain's status to finish the setup".to_owned(),
            ),
            AcmPhase::Served => self
                .acm_request
                .as_ref()
                .and_then(|r| self.dns_action(&r.domain))
                .unwrap_or_else(|| {
                    act(
                        Actor::Nobody,
                        Action::None,
                        "served; ACM renews the certificate itself".to_owned(),
                    )
                }),
            AcmPhase::Failed => act(
                Actor::Tenant,
                Action::ReleaseAndRequest,
                format!(
                    "ACM did not issue ({}); release the domain and request it again",
                    self.acm_request
                        .as_ref()
                        .and_then(|r| r.failure.as_deref())
                        .unwrap_or("no reason given")
                ),
            ),
        }
    }

    /// What the tenant must do about a live hostname's DNS, if anything
    /// (`drift-check`' last look): point it at its edge.
    pub fn dns_action(&self, domain: &DomainName) -> Option<NextAction> {
        // Not resolved yet: nothing known to ask for.
        let dns = self.dns.as_ref().filter(|d| d.checked_at.is_some())?;
        let target = dns.expected.as_deref().unwrap_or("its edge");
        match dns.state {
            super::Pointing::Pointed => None,
            super::Pointing::AwaitingDns => Some(act(
                Actor::Tenant,
                Action::PointDns,
                format!("{domain} is served: point it at {target} (a CNAME record, or your DNS host's ALIAS for an apex)"),
            )),
            super::Pointing::Misconfigured => Some(act(
                Actor::Tenant,
                Action::FixDns,
                format!(
                    "{domain} no longer points at {target} (found: {}); point it back, or it is detached after the grace period",
                    if dns.found.is_empty() { "nothing".to_owned() } else { dns.found.join(", ") }
                ),
            )),
        }
    }

    /// The served certificate's expiry (ACME path; ACM renews its own, and
    /// this product does not read their expiry).
    pub fn not_after(&self) -> Option<Timestamp> {
        self.served.as_ref().map(|s| s.certificate.not_after)
    }

    /// Every step a release of this hostname takes, in order.
    pub fn release_steps(&self) -> Vec<ReleaseStep> {
        // A managed certificate is CloudFront's: the tenant's deletion
        // takes it (a hand-off still serving its imported certificate
        // releases as the ACME path below).
        if self
            .managed
            .as_ref()
            .is_some_and(|m| !m.handoff || self.served.is_none())
        {
            return vec![ReleaseStep::Detached, ReleaseStep::RecordsDeleted];
        }
        let acme = self.served.is_some() || self.order.is_some();
        let shared = self.served.as_ref().is_some_and(|s| s.is_shared());
        let mut steps = vec![ReleaseStep::Detached];
        if shared {
            steps.extend([
                ReleaseStep::AuthorizationsDeactivated,
                ReleaseStep::ReissueScheduled,
            ]);
        } else {
            steps.push(ReleaseStep::CertificateDeleted);
            if acme {
                steps.extend([ReleaseStep::AuthorizationsDeactivated, ReleaseStep::Revoked]);
            }
        }
        steps.push(ReleaseStep::RecordsDeleted);
        steps
    }

    /// The release's steps not done yet (all of them before a release
    /// began; none once nobody holds the name).
    pub fn release_plan(&self) -> Vec<ReleaseStep> {
        let Some(owner) = &self.owner else {
            return Vec::new();
        };
        self.release_steps()
            .into_iter()
            .filter(|step| !owner.release_done.iter().any(|d| d == step.as_str()))
            .collect()
    }

    /// The hostname whose order changes the certificate `domain` shares
    /// with other names, if it shares one: the name it waits to join, its
    /// certificate's lead, or itself when its own order is for several.
    pub fn certificate_lead(&self, domain: &DomainName) -> Option<DomainName> {
        match (&self.order_ref, &self.served, &self.order) {
            (Some(lead), _, _) => Some(lead.clone()),
            (None, Some(s), _) if s.is_shared() => Some(s.lead().clone()),
            (None, _, Some(o)) if o.names.len() > 1 => Some(domain.clone()),
            _ => None,
        }
    }

    /// What a release does first about an order that would put `domain` on
    /// a certificate it shares with other names. `lead_order` is the order
    /// of [`HostnameRecords::certificate_lead`] when that is another
    /// hostname (the records' own order is used otherwise).
    pub fn certificate_change(
        &self,
        domain: &DomainName,
        lead_order: Option<&AcmeOrder>,
    ) -> CertificateChange {
        let Some(lead) = self.certificate_lead(domain) else {
            return CertificateChange::None;
        };
        let order = match &lead == domain {
            true => self.order.as_ref(),
            false => lead_order,
        };
        let Some(order) = order.filter(|o| o.certificate_names().contains(domain)) else {
            return CertificateChange::None;
        };
        match order.stage {
            Stage::AwaitingDns | Stage::Invalid => CertificateChange::Cancel,
            // CloudFront refused the certificate and nothing serves it: the
            // hostname whose order it is releases it as any first issuance
            // (its certificate deleted, authorizations deactivated, the
            // certificate revoked); a name on it leaves, and is never
            // attached by it (the attach skips released names).
            Stage::Imported if order.attach_refused() && order.purpose == Purpose::Extend => {
                // Names added to a served certificate, refused: the order
                // ends before a name leaves and the served names renew at
                // once, without it (the lead's own release deletes it all
                // anyway).
                match &order.domain == domain {
                    true => CertificateChange::None,
                    false => CertificateChange::EndAndRenew,
                }
            }
            Stage::Imported if order.attach_refused() => CertificateChange::None,
            stage => CertificateChange::Wait(stage),
        }
    }

    /// What a renewal asked for by `trigger` does with this hostname at
    /// `now`, before it asks the CA anything (`flows::acme::renew`).
    pub fn renewal_step(&self, now: Timestamp, trigger: Trigger) -> RenewalStep {
        let Some(owner) = &self.owner else {
            return RenewalStep::NotMine;
        };
        if owner.releasing_since.is_some() {
            return RenewalStep::NotMine;
        }
        // A certificate of several names is renewed under its lead only.
        let Some(served) = self.served.as_ref().filter(|s| s.is_lead()) else {
            return RenewalStep::NotMine;
        };
        let due = served.renewal_due(now);
        // The schedule acts only on what is due; renew-now at once.
        let wait = trigger == Trigger::Schedule && !due;
        match &self.order {
            // Names being added that never got their records (or were
            // refused) do not hold up the renewal of the names served.
            Some(o)
                if o.purpose == Purpose::Extend
                    && (matches!(o.stage, Stage::AwaitingDns | Stage::Invalid)
                        || o.attach_refused())
                    && trigger != Trigger::Continue
                    && due =>
            {
                RenewalStep::CancelAddingNamesThenRenew
            }
            // Names being added: their order runs under complete-certificate.
            Some(o) if o.purpose != Purpose::Renew => RenewalStep::NotDue,
            Some(o) if o.stage != Stage::Invalid => match wait {
                true => RenewalStep::NotDue,
                false => RenewalStep::Continue,
            },
            // complete-certificate carries on an order; it places none.
            _ if trigger == Trigger::Continue => RenewalStep::NotDue,
            _ => match wait {
                true => RenewalStep::NotDue,
                false => RenewalStep::NewOrder,
            },
        }
    }

    /// What the scheduled sweep does with this hostname at `now`.
    pub fn sweep_step(&self, now: Timestamp) -> RenewalStep {
        self.renewal_step(now, Trigger::Schedule)
    }
}

/// Who asked for a renewal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The scheduled sweep: only what is due.
    Schedule,
    /// The owner's renew-now: at once, whatever the schedule says.
    Now,
    /// complete-certificate, carrying on the renewal order in flight (after
    /// the tenant published its TXT record): places no new order, and a
    /// missing record is the caller's error, as for a first issuance.
    Continue,
}

/// What a release does about a certificate the hostname shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateChange {
    /// Nothing to do first.
    None,
    /// The order still waits for DNS records (or was refused): it is
    /// cancelled.
    Cancel,
    /// The order added names to a served certificate and CloudFront refused
    /// it (its certificate is in the served ARN already): the order ends and
    /// the served names' certificate is due for renewal at once, which
    /// re-imports it without the names that leave.
    EndAndRenew,
    /// The CA is validating or issuing it: the release waits for it
    /// (`409 certificate_change_in_flight`).
    Wait(Stage),
}

/// What a renewal does with a hostname.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenewalStep {
    /// Not the sweep's: not served (its first order runs under
    /// complete-certificate), a name renewed under its certificate's lead,
    /// or being released.
    NotMine,
    /// Served and not due yet.
    NotDue,
    /// Carry on the renewal order in flight.
    Continue,
    /// Place a new renewal order.
    NewOrder,
    /// End the unfinished order that added names, then renew.
    CancelAddingNamesThenRenew,
}

impl Lifecycle {
    /// The status string the API reports (ACME path's `status`; the ACM
    /// path's in the tenant's list).
    pub fn status(&self) -> &'static str {
        match self {
            Lifecycle::Unclaimed | Lifecycle::Claimed { .. } => "claimed",
            Lifecycle::Releasing { from, .. } => from.status(),
            Lifecycle::Issuing(Issuing::InFlight(Stage::AwaitingDns)) => "pending_validation",
            Lifecycle::Issuing(Issuing::Refused) => "failed",
            Lifecycle::Issuing(_) => "issuing",
            Lifecycle::Served(renewal) => match renewal {
                Renewal::Scheduled | Renewal::Retrying { .. } => "active",
                Renewal::Renewing { .. } => "renewing",
                Renewal::AwaitingDns { .. } => "renewal_awaiting_dns",
                Renewal::AddingNames { .. } => "adding_names",
                Renewal::Refused { .. } | Renewal::Failing { .. } => "renewal_failing",
            },
            Lifecycle::Acm(phase) => match phase {
                AcmPhase::Validating => "pending_validation",
                AcmPhase::Configuring(_) => "configuring",
                AcmPhase::Served => "active",
                AcmPhase::Failed => "failed",
            },
            Lifecycle::Managed(phase) => match phase {
                ManagedPhase::Proving | ManagedPhase::Validating => "pending_validation",
                ManagedPhase::Attaching => "configuring",
                ManagedPhase::Served => "active",
                ManagedPhase::Failed => "failed",
            },
        }
    }

    /// Which issuance path the hostname is on, if any.
    pub fn path(&self) -> Option<&'static str> {
        match self {
            Lifecycle::Unclaimed | Lifecycle::Claimed { .. } => None,
            Lifecycle::Issuing(_) | Lifecycle::Served(_) => Some("acme"),
            Lifecycle::Acm(_) => Some("acm"),
            Lifecycle::Managed(_) => Some("managed"),
            Lifecycle::Releasing { from, .. } => from.path(),
        }
    }
}

fn act(actor: Actor, action: Action, message: String) -> NextAction {
    NextAction {
        actor,
        action,
        message,
    }
}

fn names(o: &AcmeOrder) -> String {
    o.certificate_names()
        .iter()
        .map(DomainName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The TXT records the tenant must publish for an order.
fn txt_records(o: &AcmeOrder) -> String {
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
    let claims: Vec<String> = o
        .all_challenges()
        .iter()
        .filter_map(|c| {
            let why = c.claim_proof?;
            let (name, value) = super::claim_record(&c.domain, &o.org_id);
            Some(format!(
                "your claim record, a TXT record named {name} with the value {value} ({})",
                why.reason()
            ))
        })
        .collect();
    let needed: Vec<String> = claims.into_iter().chain(needed).collect();
    match needed.is_empty() {
        true => "nothing needs publishing".to_owned(),
        false => format!("add {}", needed.join(" and ")),
    }
}

#[cfg(test)]
mod tests;

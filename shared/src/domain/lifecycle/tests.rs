//! The lifecycle's tests: every state's status and next actor, the release
//! and sweep decisions, and the property that every reachable state has a
//! way out.
use super::*;
use crate::domain::renewal::RenewalBasis;
use crate::domain::{
    AcmRequest, ChallengeRecord, IssuedCertificate, Owner, RenewalState, ServedCertificate,
    TenantId,
};
use proptest::prelude::*;

const NOW: &str = "2026-06-01T00:00:00Z";

fn t(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn d(s: &str) -> DomainName {
    DomainName::parse(s).unwrap()
}

fn org() -> TenantId {
    TenantId::parse("org", "org-1").unwrap()
}

fn owner(proven: bool) -> Owner {
    Owner {
        tenant_id: org(),
        claimed_at: "2026-05-01T00:00:00Z".into(),
        delegation_label: None,
        releasing_since: None,
        release_done: Vec::new(),
        proven_at: proven.then(|| t("2026-05-02T00:00:00Z")),
        active_at: None,
        custom_metadata: None,
        told: Vec::new(),
        counted: None,
    }
}

#[test]
fn an_unproven_claim_counts_from_its_last_action() {
    let mut o = owner(false);
    assert_eq!(o.last_active(), Some(t("2026-05-01T00:00:00Z")));
    o.active_at = Some(t("2026-05-09T00:00:00Z"));
    assert_eq!(o.last_active(), Some(t("2026-05-09T00:00:00Z")));
}

#[test]
fn another_tenant_proves_control_for_30_days_after_a_claim_ends() {
    let previous = crate::domain::PreviousClaim {
        tenant_id: org(),
        ended_at: t("2026-05-01T00:00:00Z"),
    };
    let other = crate::domain::TenantId::parse("org", "org-other").unwrap();
    assert!(previous.asks_proof_of(&other, t("2026-05-30T23:00:00Z")));
    assert!(!previous.asks_proof_of(&other, t("2026-05-31T00:00:01Z")));
    // The same tenant claiming its name again proved it before.
    assert!(!previous.asks_proof_of(&org(), t("2026-05-02T00:00:00Z")));
}

fn order(domain: &str, purpose: Purpose, stage: Stage, names: &[&str]) -> AcmeOrder {
    let challenge = |n: &str| ChallengeRecord {
        authorization_url: format!("https://ca.test/authz/{n}"),
        challenge_url: format!("https://ca.test/chall/{n}"),
        txt_name: format!("_acme-challenge.{n}"),
        txt_value: format!("value-of-{n}"),
    };
    AcmeOrder {
        domain: d(domain),
        org_id: org(),
        stage,
        purpose,
        replaces: None,
        profile: None,
        delegation_label: None,
        delegated: false,
        delegation_change: None,
        notified_at: None,
        order_url: "https://ca.test/order/1".into(),
        finalize_url: "https://ca.test/finalize/1".into(),
        challenge: challenge(domain),
        challenge_required: true,
        claim_proof: None,
        names: names.iter().map(|n| d(n)).collect(),
        challenges: names
            .iter()
            .filter(|n| **n != domain)
            .map(|n| crate::domain::NameChallenge {
                domain: d(n),
                challenge: challenge(n),
                required: true,
                claim_proof: None,
            })
            .collect(),
        distribution_id: Some("E1".into()),
        edge: Edge::Cloudfront,
        dns_target: None,
        pending_key: None,
        certificate: stage.has_certificate().then(|| IssuedCertificate {
            chain_pem: "PEM".into(),
            sealed_key: "KEY".into(),
            serial: "01".into(),
            not_before: t("2026-05-01T00:00:00Z"),
            not_after: t("2026-08-01T00:00:00Z"),
        }),
        // The save that records `Imported` marks the attach as started.
        import_started: stage.has_certificate(),
        imported_at: None,
        attach_started: stage == Stage::Imported,
        certificate_arn: stage.has_certificate().then(|| "arn:cert".into()),
        failure: (stage == Stage::Invalid).then(|| "unauthorized".into()),
        version: 1,
        created_at: t("2026-05-01T00:00:00Z"),
        updated_at: t("2026-05-01T00:00:00Z"),
    }
}

fn served(domain: &str, names: &[&str], renew_after: &str) -> ServedCertificate {
    ServedCertificate {
        domain: d(domain),
        org_id: org(),
        certificate_arn: "arn:cert".into(),
        distribution_id: "E1".into(),
        edge: Edge::Cloudfront,
        dns_target: None,
        names: names.iter().map(|n| d(n)).collect(),
        profile: None,
        certificate: IssuedCertificate {
            chain_pem: "PEM".into(),
            sealed_key: "KEY".into(),
            serial: "01".into(),
            not_before: t("2026-05-01T00:00:00Z"),
            not_after: t("2026-08-01T00:00:00Z"),
        },
        order_url: Some("https://ca.test/order/0".into()),
        ari_id: None,
        renewal: RenewalState {
            renew_after: t(renew_after),
            basis: RenewalBasis::Lifetime,
            window: None,
            window_recheck_at: None,
            failures: 0,
            last_error: None,
            not_before: None,
            escalated: false,
            reminded_at_days: None,
            in_flight_since: None,
        },
        delegated: false,
        issued_recently: Vec::new(),
        version: 1,
        served_since: t("2026-05-01T00:00:00Z"),
        updated_at: t("2026-05-01T00:00:00Z"),
    }
}

fn acm(domain: &str, stage: AcmStage) -> AcmRequest {
    AcmRequest {
        request_id: "req-1".into(),
        domain: d(domain),
        workspace_id: org(),
        certificate_arn: "arn:regional".into(),
        stage,
        validation_records: Vec::new(),
        api_gateway_domain: None,
        certificate_status: None,
        failure: (stage == AcmStage::Failed).then(|| "FAILED".into()),
        ownership_record: None,
        ownership_proven: false,
        version: 1,
        created_at: t("2026-05-01T00:00:00Z"),
        updated_at: t("2026-05-01T00:00:00Z"),
    }
}

fn managed(domain: &str, stage: ManagedStage, handoff: bool) -> crate::domain::ManagedCertificate {
    let mut m = crate::domain::ManagedCertificate::new(
        d(domain),
        org(),
        "E-MT".into(),
        "cloudfront".into(),
        stage,
        handoff,
    );
    m.tenant_id = (stage != ManagedStage::Proving).then(|| "T-1".into());
    m.dns_target = Some("d111.cloudfront.net".into());
    m.failure = (stage == ManagedStage::Failed).then(|| "validation-timed-out".into());
    m
}

fn claimed() -> HostnameRecords {
    HostnameRecords {
        owner: Some(owner(false)),
        ..HostnameRecords::default()
    }
}

fn with_order(o: AcmeOrder) -> HostnameRecords {
    HostnameRecords {
        order: Some(o),
        ..claimed()
    }
}

fn with_served(s: ServedCertificate, o: Option<AcmeOrder>) -> HostnameRecords {
    HostnameRecords {
        served: Some(s),
        order: o,
        ..claimed()
    }
}

fn refused_attach(mut o: AcmeOrder) -> AcmeOrder {
    o.attach_started = false;
    o.failure = Some("CNAMEAlreadyExists".into());
    o
}

const H: &str = "shop.example.com";
const SOON: &str = "2026-07-01T00:00:00Z";
const PAST: &str = "2026-05-20T00:00:00Z";

/// Every state, its status, and who acts next.
#[test]
fn every_state_has_its_status_and_next_actor() {
    let failing = {
        let mut s = served(H, &[], PAST);
        s.renewal.failures = 12;
        s.renewal.escalated = true;
        s
    };
    let retrying = {
        let mut s = served(H, &[], PAST);
        s.renewal.failures = 2;
        s.renewal.not_before = Some(t("2026-06-01T02:00:00Z"));
        s
    };
    let releasing = {
        let mut r = with_served(served(H, &[], SOON), None);
        let o = r.owner.as_mut().unwrap();
        o.releasing_since = Some(t(NOW));
        o.release_done = vec!["detached".into()];
        r
    };
    let renew = |stage| Some(order(H, Purpose::Renew, stage, &[]));
    let extend = |stage| Some(order(H, Purpose::Extend, stage, &[H, "www.example.com"]));
    let cases: Vec<(&str, HostnameRecords, Lifecycle, &str, Actor, &str)> = vec![
        (
            "unclaimed",
            HostnameRecords::default(),
            Lifecycle::Unclaimed,
            "claimed",
            Actor::Tenant,
            "start_certificate",
        ),
        (
            "claimed",
            claimed(),
            Lifecycle::Claimed { proven: false },
            "claimed",
            Actor::Tenant,
            "start_certificate",
        ),
        (
            "awaiting dns",
            with_order(order(H, Purpose::Issue, Stage::AwaitingDns, &[])),
            Lifecycle::Issuing(Issuing::InFlight(Stage::AwaitingDns)),
            "pending_validation",
            Actor::Tenant,
            "publish_txt_record",
        ),
        (
            "validating",
            with_order(order(H, Purpose::Issue, Stage::Validating, &[])),
            Lifecycle::Issuing(Issuing::InFlight(Stage::Validating)),
            "issuing",
            Actor::Tenant,
            "complete_certificate",
        ),
        (
            "finalizing",
            with_order(order(H, Purpose::Issue, Stage::Finalizing, &[])),
            Lifecycle::Issuing(Issuing::InFlight(Stage::Finalizing)),
            "issuing",
            Actor::Tenant,
            "complete_certificate",
        ),
        (
            "issued",
            with_order(order(H, Purpose::Issue, Stage::Issued, &[])),
            Lifecycle::Issuing(Issuing::InFlight(Stage::Issued)),
            "issuing",
            Actor::Tenant,
            "complete_certificate",
        ),
        (
            "imported",
            with_order(order(H, Purpose::Issue, Stage::Imported, &[])),
            Lifecycle::Issuing(Issuing::InFlight(Stage::Imported)),
            "issuing",
            Actor::Tenant,
            "complete_certificate",
        ),
        (
            "refused by the CA",
            with_order(order(H, Purpose::Issue, Stage::Invalid, &[])),
            Lifecycle::Issuing(Issuing::Refused),
            "failed",
            Actor::Tenant,
            "start_certificate",
        ),
        (
            "attach refused",
            with_order(refused_attach(order(
                H,
                Purpose::Issue,
                Stage::Imported,
                &[],
            ))),
            Lifecycle::Issuing(Issuing::AttachRefused { shared: false }),
            "issuing",
            Actor::Tenant,
            "complete_certificate",
        ),
        (
            "attach refused, several names",
            with_order(refused_attach(order(
                H,
                Purpose::Issue,
                Stage::Imported,
                &[H, "www.example.com"],
            ))),
            Lifecycle::Issuing(Issuing::AttachRefused { shared: true }),
            "issuing",
            Actor::Tenant,
            "release_domain",
        ),
        (
            "served",
            with_served(served(H, &[], SOON), None),
            Lifecycle::Served(Renewal::Scheduled),
            "active",
            Actor::Nobody,
            "none",
        ),
        (
            "retrying",
            with_served(retrying.clone(), None),
            Lifecycle::Served(Renewal::Retrying { failures: 2 }),
            "active",
            Actor::Nobody,
            "retrying_renewal",
        ),
        (
            "renewing",
            with_served(served(H, &[], PAST), renew(Stage::Validating)),
            Lifecycle::Served(Renewal::Renewing {
                stage: Stage::Validating,
                failures: 0,
            }),
            "renewing",
            Actor::Nobody,
            "renewing",
        ),
        (
            "renewal awaiting the tenant's TXT",
            with_served(served(H, &[], PAST), renew(Stage::AwaitingDns)),
            Lifecycle::Served(Renewal::AwaitingDns {
                delegated: false,
                failures: 0,
            }),
            "renewal_awaiting_dns",
            Actor::Tenant,
            "publish_txt_record",
        ),
        (
            "renewal refused",
            with_served(retrying.clone(), renew(Stage::Invalid)),
            Lifecycle::Served(Renewal::Refused { failures: 2 }),
            "renewal_failing",
            Actor::Nobody,
            "retrying_renewal",
        ),
        (
            "renewal given up",
            with_served(failing, renew(Stage::Invalid)),
            Lifecycle::Served(Renewal::Failing { failures: 12 }),
            "renewal_failing",
            Actor::Platform,
            "investigate_renewal",
        ),
        (
            "adding names, awaiting DNS",
            with_served(served(H, &[], SOON), extend(Stage::AwaitingDns)),
            Lifecycle::Served(Renewal::AddingNames {
                stage: Stage::AwaitingDns,
                failures: 0,
            }),
            "adding_names",
            Actor::Tenant,
            "publish_txt_record",
        ),
        (
            "adding names, validating",
            with_served(served(H, &[], SOON), extend(Stage::Validating)),
            Lifecycle::Served(Renewal::AddingNames {
                stage: Stage::Validating,
                failures: 0,
            }),
            "adding_names",
            Actor::Tenant,
            "complete_certificate",
        ),
        (
            "acm validating",
            HostnameRecords {
                acm_request: Some(acm(H, AcmStage::Requested)),
                ..claimed()
            },
            Lifecycle::Acm(AcmPhase::Validating),
            "pending_validation",
            Actor::Tenant,
            "publish_cname_records",
        ),
        (
            "acm configuring",
            HostnameRecords {
                acm_request: Some(acm(H, AcmStage::Mapped)),
                ..claimed()
            },
            Lifecycle::Acm(AcmPhase::Configuring(AcmStage::Mapped)),
            "configuring",
            Actor::Tenant,
            "poll_status",
        ),
        (
            "acm served",
            HostnameRecords {
                acm_request: Some(acm(H, AcmStage::Configured)),
                ..claimed()
            },
            Lifecycle::Acm(AcmPhase::Served),
            "active",
            Actor::Nobody,
            "none",
        ),
        (
            "acm failed",
            HostnameRecords {
                acm_request: Some(acm(H, AcmStage::Failed)),
                ..claimed()
            },
            Lifecycle::Acm(AcmPhase::Failed),
            "failed",
            Actor::Tenant,
            "release_and_request",
        ),
        (
            "releasing",
            releasing,
            Lifecycle::Releasing {
                done: vec![ReleaseStep::Detached],
                from: Box::new(Lifecycle::Served(Renewal::Scheduled)),
            },
            "active",
            Actor::Tenant,
            "release_domain",
        ),
    ];
    for (name, records, state, status, actor, action) in cases {
        assert_eq!(records.lifecycle(), state, "{name}");
        let (got_status, next) = records.status(&d(H));
        assert_eq!(got_status, status, "{name}");
        let code = serde_json::to_value(next.action).unwrap();
        assert_eq!(
            (next.actor, code.as_str().unwrap()),
            (actor, action),
            "{name}: {}",
            next.message
        );
        assert!(
            records.lifecycle() == Lifecycle::Unclaimed || !records.release_plan().is_empty(),
            "{name}"
        );
    }
}

/// Every action code is one `openapi.json` documents, and the other way
/// round.
#[test]
fn action_codes_are_the_documented_ones() {
    let spec: serde_json::Value =
        serde_json::from_str(include_str!("../../../../openapi.json")).unwrap();
    let documented = &spec["components"]["schemas"]["NextAction"]["properties"]["action"]["enum"];
    let ours: Vec<serde_json::Value> = Action::ALL
        .iter()
        .map(|a| serde_json::to_value(a).unwrap())
        .collect();
    assert_eq!(documented.as_array().unwrap(), &ours);
}

#[test]
fn release_steps_keep_their_stored_names() {
    let names: Vec<&str> = ReleaseStep::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        names,
        [
            "detached",
            "certificate_deleted",
            "authorizations_deactivated",
            "revoked",
            "reissue_scheduled",
            "records_deleted"
        ]
    );
    for step in ReleaseStep::ALL {
        assert_eq!(ReleaseStep::parse(step.as_str()), Some(step));
        assert_eq!(serde_json::to_value(step).unwrap(), step.as_str());
    }
    // A served certificate of its own: every step; one shared with other
    // names: it stays, for them.
    let own = with_served(served(H, &[], SOON), None).release_steps();
    assert_eq!(own.len(), 5);
    let shared = with_served(served(H, &[H, "www.example.com"], SOON), None).release_steps();
    assert!(
        shared.contains(&ReleaseStep::ReissueScheduled) && !shared.contains(&ReleaseStep::Revoked)
    );
    // ACM path: nothing at the CA to undo.
    let acm_path = HostnameRecords {
        acm_request: Some(acm(H, AcmStage::Configured)),
        ..claimed()
    }
    .release_steps();
    assert_eq!(
        acm_path,
        [
            ReleaseStep::Detached,
            ReleaseStep::CertificateDeleted,
            ReleaseStep::RecordsDeleted
        ]
    );
}

#[test]
fn the_sweep_acts_on_what_is_due_and_renew_now_at_once() {
    let now = t(NOW);
    let due = with_served(served(H, &[], PAST), None);
    let later = with_served(served(H, &[], SOON), None);
    assert_eq!(due.sweep_step(now), RenewalStep::NewOrder);
    assert_eq!(later.sweep_step(now), RenewalStep::NotDue);
    assert_eq!(later.renewal_step(now, Trigger::Now), RenewalStep::NewOrder);
    assert_eq!(
        later.renewal_step(now, Trigger::Continue),
        RenewalStep::NotDue
    );
    let in_flight = with_served(
        served(H, &[], PAST),
        Some(order(H, Purpose::Renew, Stage::Validating, &[])),
    );
    assert_eq!(in_flight.sweep_step(now), RenewalStep::Continue);
    let adding = with_served(
        served(H, &[], PAST),
        Some(order(
            H,
            Purpose::Extend,
            Stage::AwaitingDns,
            &[H, "www.example.com"],
        )),
    );
    assert_eq!(
        adding.sweep_step(now),
        RenewalStep::CancelAddingNamesThenRenew
    );
    assert_eq!(
        adding.renewal_step(now, Trigger::Continue),
        RenewalStep::NotDue
    );
    // Not the lead's copy: renewed under the lead.
    let member = with_served(
        served("www.example.com", &[H, "www.example.com"], PAST),
        None,
    );
    assert_eq!(member.sweep_step(now), RenewalStep::NotMine);
    // Escalated after too many failures: the sweep still retries it.
    let mut escalated = served(H, &[], PAST);
    escalated.renewal.escalated = true;
    escalated.renewal.failures = 12;
    let escalated = with_served(escalated, None);
    assert_eq!(escalated.sweep_step(now), RenewalStep::NewOrder);
    assert_eq!(
        escalated.renewal_step(now, Trigger::Now),
        RenewalStep::NewOrder
    );
}

/// A release cancels an order that waits for DNS, waits for one the CA
/// is working on, and goes through one CloudFront refused.
#[test]
fn a_release_ends_or_waits_for_the_certificate_it_shares() {
    let names = [H, "www.example.com"];
    let lead = |stage| with_order(order(H, Purpose::Issue, stage, &names));
    assert_eq!(
        lead(Stage::AwaitingDns).certificate_change(&d(H), None),
        CertificateChange::Cancel
    );
    assert_eq!(
        lead(Stage::Validating).certificate_change(&d(H), None),
        CertificateChange::Wait(Stage::Validating)
    );
    let refused = with_order(refused_attach(order(
        H,
        Purpose::Issue,
        Stage::Imported,
        &names,
    )));
    assert_eq!(
        refused.certificate_change(&d(H), None),
        CertificateChange::None
    );
    // The other name, waiting to join.
    let member = HostnameRecords {
        order_ref: Some(d(H)),
        ..claimed()
    };
    let lead_order = order(H, Purpose::Issue, Stage::Finalizing, &names);
    assert_eq!(
        member.certificate_change(&d("www.example.com"), Some(&lead_order)),
        CertificateChange::Wait(Stage::Finalizing)
    );
    assert_eq!(
        member.certificate_change(&d("www.example.com"), None),
        CertificateChange::None
    );
    let refused_lead = refused_attach(order(H, Purpose::Issue, Stage::Imported, &names));
    assert_eq!(
        member.certificate_change(&d("www.example.com"), Some(&refused_lead)),
        CertificateChange::None
    );
}

/// How one generated hostname is made.
#[derive(Clone, Debug)]
enum Shape {
    Bare,
    /// This hostname's first order; `joining`: seen from another name
    /// of it (the status flow's view of a name waiting to join).
    Issue {
        stage: Stage,
        several: bool,
        attach_refused: bool,
        joining: bool,
    },
    Served {
        shared: bool,
        lead: bool,
        due: bool,
        failures: u32,
        escalated: bool,
        delegated: bool,
        order: Option<(Purpose, Stage, bool)>,
    },
    Acm(AcmStage),
    /// A managed certificate; `handoff`: beside a served ACME certificate
    /// (until attached, when the hand-off ends that record).
    Managed {
        stage: ManagedStage,
        handoff: bool,
    },
}

fn managed_stage() -> impl Strategy<Value = ManagedStage> {
    prop_oneof![
        Just(ManagedStage::Proving),
        Just(ManagedStage::Requested),
        Just(ManagedStage::Issued),
        Just(ManagedStage::Attached),
        Just(ManagedStage::Served),
        Just(ManagedStage::Failed),
    ]
}

fn stage() -> impl Strategy<Value = Stage> {
    prop_oneof![
        Just(Stage::AwaitingDns),
        Just(Stage::Validating),
        Just(Stage::Finalizing),
        Just(Stage::Issued),
        Just(Stage::Imported),
        Just(Stage::Invalid),
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Bare),
        (stage(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(stage, several, refused, joining)| Shape::Issue {
                stage,
                several: several || joining,
                attach_refused: refused && stage == Stage::Imported,
                joining,
            }
        ),
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            0u32..4,
            any::<bool>(),
            any::<bool>(),
            proptest::option::of((
                prop_oneof![Just(Purpose::Renew), Just(Purpose::Extend)],
                stage(),
                any::<bool>()
            )),
        )
            .prop_map(
                |(shared, lead, due, failures, escalated, delegated, order)| {
                    Shape::Served {
                        shared,
                        lead: lead || !shared,
                        due,
                        failures: if escalated { failures.max(1) } else { failures },
                        escalated,
                        delegated,
                        // A certificate's orders are its lead's.
                        order: order.filter(|_| lead || !shared),
                    }
                }
            ),
        prop_oneof![
            Just(AcmStage::Requested),
            Just(AcmStage::Issued),
            Just(AcmStage::DomainCreated),
            Just(AcmStage::Mapped),
            Just(AcmStage::Configured),
            Just(AcmStage::Failed),
        ]
        .prop_map(Shape::Acm),
        (managed_stage(), any::<bool>())
            .prop_map(|(stage, handoff)| Shape::Managed { stage, handoff }),
    ]
}

const OTHER: &str = "www.example.com";

/// A hostname's records (and the order of the name whose certificate
/// it waits to join, if another's), as the product can store them.
fn build(
    shape: &Shape,
    proven: bool,
    releasing: Option<usize>,
) -> (HostnameRecords, Option<AcmeOrder>) {
    let mut lead_order = None;
    let mut records = claimed();
    records.owner.as_mut().unwrap().proven_at = proven.then(|| t("2026-05-02T00:00:00Z"));
    match shape {
        Shape::Bare => {}
        Shape::Issue {
            stage,
            several,
            attach_refused,
            joining,
        } => {
            let names: &[&str] = if *several { &[OTHER, H] } else { &[] };
            let lead = if *joining { OTHER } else { H };
            let mut o = order(lead, Purpose::Issue, *stage, names);
            if *attach_refused {
                o = refused_attach(o);
            }
            if *joining {
                records.order_ref = Some(d(OTHER));
                // The status flow shows the lead's order from this name.
                records.order = Some(o.as_seen_from(&d(H)));
                lead_order = Some(o);
            } else {
                records.order = Some(o);
            }
        }
        Shape::Served {
            shared,
            lead,
            due,
            failures,
            escalated,
            delegated,
            order: o,
        } => {
            let names: &[&str] = if *shared {
                if *lead {
                    &[H, OTHER]
                } else {
                    &[OTHER, H]
                }
            } else {
                &[]
            };
            let mut s = served(H, names, if *due { PAST } else { SOON });
            s.renewal.failures = *failures;
            s.renewal.escalated = *escalated;
            s.delegated = *delegated;
            if *failures > 0 && !*escalated {
                s.renewal.not_before = Some(t("2026-06-01T04:00:00Z"));
            }
            if let Some((purpose, stage, refused)) = o {
                let extend_names: &[&str] = if *purpose == Purpose::Extend {
                    &[H, OTHER]
                } else {
                    names
                };
                let mut order = order(H, *purpose, *stage, extend_names);
                if *refused && *stage == Stage::Imported && *purpose == Purpose::Extend {
                    order = refused_attach(order);
                }
                if *purpose == Purpose::Renew && *stage != Stage::Invalid {
                    s.renewal.in_flight_since = Some(t(PAST));
                }
                records.order = Some(order);
            }
            records.served = Some(s);
        }
        Shape::Acm(stage) => records.acm_request = Some(acm(H, *stage)),
        Shape::Managed { stage, handoff } => {
            records.managed = Some(managed(H, *stage, *handoff));
            // A hand-off's ACME certificate serves until the managed one
            // is served (the same transaction ends it).
            if *handoff && *stage != ManagedStage::Served {
                records.served = Some(served(H, &[], SOON));
            }
        }
    }
    if let Some(done) = releasing {
        let steps = records.release_steps();
        let owner = records.owner.as_mut().unwrap();
        owner.releasing_since = Some(t(NOW));
        // Steps are done in order; the last one deletes everything.
        owner.release_done = steps
            .iter()
            .take(done.min(steps.len() - 1))
            .map(|s| s.as_str().to_owned())
            .collect();
    }
    (records, lead_order)
}

/// Whether the state has a way out: a release makes progress (or waits
/// only for an order something is moving), the sweep makes progress (or
/// the state is someone else's to move), and a status that says nobody
/// must act is one the product moves by itself.
fn way_out(records: &HostnameRecords, lead_order: Option<&AcmeOrder>) -> Result<(), String> {
    let domain = d(H);
    let state = records.lifecycle();
    let (_, next) = records.status(&domain);
    // Who moves it when the status says nobody must act.
    let served_lead = records.served.as_ref().is_some_and(|s| s.is_lead());
    if next.actor == Actor::Nobody {
        let moved_by_itself = matches!(
            state,
            Lifecycle::Served(_)
                | Lifecycle::Acm(AcmPhase::Served)
                | Lifecycle::Managed(ManagedPhase::Served)
        );
        if !moved_by_itself {
            return Err(format!(
                "{state:?}: nobody must act, and nothing moves it ({})",
                next.message
            ));
        }
        // A served lead's renewal is the sweep's; every other copy
        // is renewed with its lead.
        if served_lead && matches!(state, Lifecycle::Served(Renewal::AddingNames { .. })) {
            return Err(format!(
                "{state:?}: the sweep does not drive an order adding names, yet nobody must act"
            ));
        }
    }
    // A release.
    if records.release_plan().is_empty() {
        return Err(format!("{state:?}: a release has no step to take"));
    }
    if let CertificateChange::Wait(stage) = records.certificate_change(&domain, lead_order) {
        let waited = match records.certificate_lead(&domain) {
            Some(lead) if lead != domain => lead_order.cloned(),
            _ => records.order.clone(),
        };
        let moving = waited.as_ref().is_some_and(|o| {
            o.stage == stage
                && matches!(
                    stage,
                    Stage::Validating | Stage::Finalizing | Stage::Issued | Stage::Imported
                )
                && !o.attach_refused()
        });
        if !moving {
            return Err(format!(
                "{state:?}: the release waits for an order nothing moves"
            ));
        }
        if next.actor == Actor::Nobody
            && !(served_lead
                && records
                    .order
                    .as_ref()
                    .is_some_and(|o| o.purpose == Purpose::Renew))
        {
            return Err(format!(
                "{state:?}: the release waits and the status names nobody to move the order ({})",
                next.message
            ));
        }
    }
    // The sweep.
    match records.sweep_step(t(NOW)) {
        RenewalStep::Continue | RenewalStep::NewOrder | RenewalStep::CancelAddingNamesThenRenew => {
        }
        // Served and not due: the sweep acts once it is, unless
        // nothing it drives is in flight.
        RenewalStep::NotDue => {
            // An order adding names that waits for DNS or was refused is
            // ended by the sweep once the renewal is due.
            let sweeps_it = records.order.as_ref().is_none_or(|o| {
                o.purpose == Purpose::Renew
                    || matches!(o.stage, Stage::AwaitingDns | Stage::Invalid)
            });
            if !sweeps_it && next.actor == Actor::Nobody {
                return Err(format!(
                    "{state:?}: the sweep leaves it, and the status names nobody"
                ));
            }
        }
        RenewalStep::NotMine => {
            let someone_else = next.actor != Actor::Nobody
                || matches!(
                    state,
                    Lifecycle::Served(_)
                        | Lifecycle::Acm(AcmPhase::Served)
                        | Lifecycle::Managed(ManagedPhase::Served)
                );
            if !someone_else {
                return Err(format!(
                    "{state:?}: not the sweep's, and the status names nobody"
                ));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// From every reachable state, a release and the scheduled sweep
    /// each make progress or say who must act.
    #[test]
    fn every_state_has_a_way_out(shape in shape(), proven in any::<bool>(), releasing in proptest::option::of(0usize..6)) {
        let (records, lead_order) = build(&shape, proven, releasing);
        if let Err(why) = way_out(&records, lead_order.as_ref()) {
            prop_assert!(false, "{:?}: {}", shape, why);
        }
    }
}

/// The dead ends the property found, kept as cases of their own.
#[test]
fn the_dead_ends_found_have_a_way_out() {
    let names = [H, OTHER];
    // A multi-name order CloudFront refused at attach: the release
    // refused it (the CA "was issuing"), the sweep does not see it, and
    // the status said to call complete-certificate, which is refused
    // the same way again.
    let refused = with_order(refused_attach(order(
        H,
        Purpose::Issue,
        Stage::Imported,
        &names,
    )));
    assert_eq!(way_out(&refused, None), Ok(()));
    // Names being added, past the DNS step: only complete-certificate
    // moves that order, yet the status said nobody must act.
    let adding = with_served(
        served(H, &[], SOON),
        Some(order(H, Purpose::Extend, Stage::Validating, &names)),
    );
    assert_eq!(way_out(&adding, None), Ok(()));
}

/// Names CloudFront refused to add to a served certificate never hold up
/// its renewal: the sweep ends their order and renews; a name leaving ends
/// it too; the status names the names to release.
#[test]
fn an_extension_refused_at_attach_has_a_way_out() {
    let now = t(NOW);
    let extension = refused_attach(order(H, Purpose::Extend, Stage::Imported, &[H, OTHER]));
    let due = with_served(served(H, &[], PAST), Some(extension.clone()));
    assert_eq!(due.sweep_step(now), RenewalStep::CancelAddingNamesThenRenew);
    let next = due.next_action(&d(H));
    assert_eq!(next.action, Action::ReleaseDomain, "{next:?}");
    assert!(
        next.message.contains(&format!("release {OTHER}")),
        "{next:?}"
    );
    assert_eq!(
        due.certificate_change(&d(OTHER), Some(&extension)),
        CertificateChange::EndAndRenew
    );
    assert_eq!(
        due.certificate_change(&d(H), None),
        CertificateChange::None,
        "the lead's release deletes it all"
    );
}

#[test]
fn an_acm_request_asking_for_the_claim_record_names_it_until_seen() {
    let mut request = acm(H, AcmStage::Requested);
    request.ownership_record = Some(crate::domain::OwnershipRecord {
        record: crate::domain::ValidationRecord {
            name: format!("_custom-domains-claim.{H}"),
            value: "claim-value".into(),
            record_type: "TXT".into(),
        },
        reason: crate::domain::ClaimProof::RecentClaimant,
    });
    let mut records = HostnameRecords {
        acm_request: Some(request),
        ..claimed()
    };
    let next = records.next_action(&d(H));
    assert_eq!(next.action, Action::PublishCnameRecords);
    assert!(
        next.message
            .contains("_custom-domains-claim.shop.example.com")
            && next.message.contains("claim-value")
            && next.message.contains("last 30 days"),
        "{}",
        next.message
    );
    if let Some(r) = records.acm_request.as_mut() {
        r.ownership_proven = true;
    }
    let next = records.next_action(&d(H));
    assert!(!next.message.contains("claim"), "{}", next.message);
}

//! AWS's quotas on what the product makes, kept by the product from its own
//! records (the ledger, `adapters::store::ledger`), so that a call that
//! would pass one is refused before anything is spent, and renewals always
//! find room: new hostnames are refused first.
//!
//! | quota | AWS's default | what counts |
//! |---|---|---|
//! | `acm_imported_certificates` | 2,500 held at once | each certificate imported into ACM until deleted (ACME path) |
//! | `acm_imports_365d` | 5,000 imports per 365 days | every import; re-imports into the same ARN too (`QUOTA_COUNT_REIMPORTS`: AWS does not say whether they count) |
//! | `acm_issued_certificates` | 2,500 held at once | ACM-issued certificates: the ACM path's, and CloudFront-managed ones |
//! | `distribution_tenants` | 10,000 per account | distribution tenants on the shared edge (ACME or managed) |
//! | `api_gateway_custom_domains` | 120 per Region | the ACM path's API Gateway custom domains |
//!
//! Sources: ACM quotas (docs.aws.amazon.com/acm/latest/userguide/acm-limits.html,
//! quota code `L-3808DC70` for imports); CloudFront quotas, "Quotas on
//! multi-tenant distributions"; API Gateway HTTP API quotas
//! (docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html).

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quota {
    AcmImportedCertificates,
    #[serde(rename = "acm_imports_365d")]
    AcmImports365d,
    AcmIssuedCertificates,
    DistributionTenants,
    ApiGatewayCustomDomains,
}

impl Quota {
    pub const ALL: [Quota; 5] = [
        Quota::AcmImportedCertificates,
        Quota::AcmImports365d,
        Quota::AcmIssuedCertificates,
        Quota::DistributionTenants,
        Quota::ApiGatewayCustomDomains,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Quota::AcmImportedCertificates => "acm_imported_certificates",
            Quota::AcmImports365d => "acm_imports_365d",
            Quota::AcmIssuedCertificates => "acm_issued_certificates",
            Quota::DistributionTenants => "distribution_tenants",
            Quota::ApiGatewayCustomDomains => "api_gateway_custom_domains",
        }
    }

    /// AWS's name for it (Service Quotas).
    pub fn aws_name(self) -> &'static str {
        match self {
            Quota::AcmImportedCertificates => "ACM imported certificates",
            Quota::AcmImports365d => "ACM certificates imported in the last 365 days",
            Quota::AcmIssuedCertificates => "ACM certificates",
            Quota::DistributionTenants => "Distribution tenants per AWS account",
            Quota::ApiGatewayCustomDomains => "Custom domains per account per Region",
        }
    }
}

/// The limits the ledger keeps under (`QUOTA_*`, AWS's defaults by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaLimits {
    pub acm_imported_certificates: u64,
    pub acm_imports_365d: u64,
    pub acm_issued_certificates: u64,
    pub distribution_tenants: u64,
    pub api_gateway_custom_domains: u64,
    /// Whether a re-import into the same ARN counts toward the yearly
    /// imports (`QUOTA_COUNT_REIMPORTS`, default true: AWS does not say).
    pub count_reimports: bool,
}

impl QuotaLimits {
    pub const AWS_DEFAULTS: QuotaLimits = QuotaLimits {
        acm_imported_certificates: 2_500,
        acm_imports_365d: 5_000,
        acm_issued_certificates: 2_500,
        distribution_tenants: 10_000,
        api_gateway_custom_domains: 120,
        count_reimports: true,
    };

    pub fn limit(&self, quota: Quota) -> u64 {
        match quota {
            Quota::AcmImportedCertificates => self.acm_imported_certificates,
            Quota::AcmImports365d => self.acm_imports_365d,
            Quota::AcmIssuedCertificates => self.acm_issued_certificates,
            Quota::DistributionTenants => self.distribution_tenants,
            Quota::ApiGatewayCustomDomains => self.api_gateway_custom_domains,
        }
    }
}

/// What the ledger holds now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerFigures {
    pub acm_imported_certificates: u64,
    pub acm_issued_certificates: u64,
    pub distribution_tenants: u64,
    pub api_gateway_custom_domains: u64,
    /// Imports in the last 365 days: first imports, and re-imports.
    pub first_imports_365d: u64,
    pub reimports_365d: u64,
}

/// One quota's standing: what is used, what is kept for renewals, the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Standing {
    pub quota: Quota,
    pub used: u64,
    /// Kept for the re-imports served certificates need in the next 365
    /// days (the yearly imports only).
    pub reserved: u64,
    pub limit: u64,
}

impl Standing {
    /// Whether `more` fits.
    pub fn fits(&self, more: u64) -> bool {
        self.used + self.reserved + more <= self.limit
    }

    /// At or past the warning level (80% of the limit, reservations
    /// counted).
    pub fn nearly_used(&self) -> bool {
        self.limit > 0 && (self.used + self.reserved) * 5 >= self.limit * 4
    }
}

/// What a new hostname is going to spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewHostname {
    /// An ACME certificate on a distribution tenant of the shared edge.
    AcmeOnSharedEdge,
    /// An ACME certificate on a distribution (a first certificate).
    AcmeOnDistribution,
    /// A CloudFront-managed certificate on the shared edge.
    Managed,
    /// The ACM path: an ACM certificate and an API Gateway custom domain.
    Acm,
}

impl NewHostname {
    /// Each quota it spends, and how much of it (the yearly imports: its
    /// first import and its re-imports in the next 365 days).
    pub fn cost(self, reimports_per_year: u64) -> Vec<(Quota, u64)> {
        match self {
            NewHostname::AcmeOnSharedEdge => vec![
                (Quota::AcmImportedCertificates, 1),
                (Quota::AcmImports365d, 1 + reimports_per_year),
                (Quota::DistributionTenants, 1),
            ],
            NewHostname::AcmeOnDistribution => vec![
                (Quota::AcmImportedCertificates, 1),
                (Quota::AcmImports365d, 1 + reimports_per_year),
            ],
            NewHostname::Managed => vec![
                (Quota::AcmIssuedCertificates, 1),
                (Quota::DistributionTenants, 1),
            ],
            NewHostname::Acm => vec![
                (Quota::AcmIssuedCertificates, 1),
                (Quota::ApiGatewayCustomDomains, 1),
            ],
        }
    }
}

/// How many re-imports one served certificate makes in 365 days, renewed
/// at `fraction` of a `lifetime_days` lifetime (whole, rounded up): at two
/// thirds, 9 for Let's Encrypt's 64 days, 13 for 45, 83 for 6⅔.
pub fn reimports_per_year(lifetime_days: f64, fraction: f64, count_reimports: bool) -> u64 {
    if !count_reimports || lifetime_days <= 0.0 || fraction <= 0.0 {
        return 0;
    }
    (365.0 / (lifetime_days * fraction)).ceil() as u64
}

/// Every quota's standing, from the ledger's figures.
pub fn standings(
    figures: &LedgerFigures,
    limits: &QuotaLimits,
    reimports_per_year: u64,
) -> Vec<Standing> {
    Quota::ALL
        .iter()
        .map(|&quota| {
            let (used, reserved) = match quota {
                Quota::AcmImportedCertificates => (figures.acm_imported_certificates, 0),
                Quota::AcmImports365d => (
                    figures.first_imports_365d
                        + if limits.count_reimports {
                            figures.reimports_365d
                        } else {
                            0
                        },
                    // Each certificate held renews all year round.
                    figures.acm_imported_certificates * reimports_per_year,
                ),
                Quota::AcmIssuedCertificates => (figures.acm_issued_certificates, 0),
                Quota::DistributionTenants => (figures.distribution_tenants, 0),
                Quota::ApiGatewayCustomDomains => (figures.api_gateway_custom_domains, 0),
            };
            Standing {
                quota,
                used,
                reserved,
                limit: limits.limit(quota),
            }
        })
        .collect()
}

/// The first quota `new` would pass, if any.
pub fn refusal(
    figures: &LedgerFigures,
    limits: &QuotaLimits,
    reimports_per_year: u64,
    new: NewHostname,
) -> Option<(Standing, u64)> {
    let all = standings(figures, limits, reimports_per_year);
    new.cost(reimports_per_year)
        .into_iter()
        .find_map(|(quota, more)| {
            let standing = all.iter().find(|s| s.quota == quota)?;
            (!standing.fits(more)).then_some((*standing, more))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_quota_is_named_as_it_serialises() {
        for q in Quota::ALL {
            assert_eq!(serde_json::to_value(q).unwrap(), q.as_str());
        }
    }

    #[test]
    fn renewals_take_two_thirds_of_the_lifetime() {
        let third = 2.0 / 3.0;
        assert_eq!(reimports_per_year(64.0, third, true), 9);
        assert_eq!(reimports_per_year(90.0, third, true), 7);
        assert_eq!(reimports_per_year(45.0, third, true), 13);
        assert_eq!(reimports_per_year(160.0 / 24.0, third, true), 83);
        assert_eq!(reimports_per_year(64.0, third, false), 0);
    }

    #[test]
    fn a_new_hostname_is_refused_before_a_renewal_would_be() {
        let limits = QuotaLimits {
            acm_imports_365d: 100,
            ..QuotaLimits::AWS_DEFAULTS
        };
        // 9 held certificates renew 9 times a year each: 81 kept, 10 used.
        let figures = LedgerFigures {
            acm_imported_certificates: 9,
            first_imports_365d: 9,
            reimports_365d: 1,
            ..LedgerFigures::default()
        };
        // 10 used + 81 kept + 10 for a new hostname's year > 100; a
        // renewal (one re-import, checked by nobody) still fits.
        let (standing, more) =
            refusal(&figures, &limits, 9, NewHostname::AcmeOnDistribution).unwrap();
        assert_eq!(
            (standing.quota, standing.used, standing.reserved, more),
            (Quota::AcmImports365d, 10, 81, 10)
        );
        // A managed hostname spends no import.
        assert_eq!(refusal(&figures, &limits, 9, NewHostname::Managed), None);
    }

    #[test]
    fn re_imports_count_only_when_configured() {
        let figures = LedgerFigures {
            first_imports_365d: 3,
            reimports_365d: 20,
            ..LedgerFigures::default()
        };
        let counted = standings(&figures, &QuotaLimits::AWS_DEFAULTS, 0);
        assert_eq!(counted[1].used, 23);
        let limits = QuotaLimits {
            count_reimports: false,
            ..QuotaLimits::AWS_DEFAULTS
        };
        assert_eq!(standings(&figures, &limits, 0)[1].used, 3);
    }

    #[test]
    fn the_warning_is_at_four_fifths() {
        let s = |used| Standing {
            quota: Quota::DistributionTenants,
            used,
            reserved: 0,
            limit: 10,
        };
        assert!(!s(7).nearly_used());
        assert!(s(8).nearly_used());
        assert!(s(10).nearly_used() && s(10).fits(0) && !s(10).fits(1));
    }
}

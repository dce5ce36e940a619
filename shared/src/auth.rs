//! Who is calling, and may they touch this tenant's things?
//!
//! In AWS, API Gateway's JWT authorizer verifies each request's bearer token
//! (issuer and audience are template parameters) and passes the verified
//! claims to the function in the request context. [`caller`] reads the
//! tenant from the claim named by `TENANT_CLAIM`; every route calls it first,
//! and refuses a request for another tenant's `org_id`, `workspace_id` or
//! `request_id` with 403 (OWASP API1, broken object-level authorization).
//!
//! Locally no API Gateway verifies tokens, so the local server
//! (`infra/local-server`) does it itself (HS256 with a signing key the local
//! stack makes) and puts the claims where API Gateway would: the handlers
//! run the same checks everywhere, and there is no switch that turns them
//! off. Token minting and verification live there, not in the library the
//! Lambda functions link.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::domain::TenantId;
use crate::error::Error;

/// The tenant the verified token names.
pub fn caller(req: &Request, claim: &str) -> Result<TenantId, Error> {
    let claims = verified_claims(req);
    let value = claims.and_then(|c| c.get(claim)).ok_or_else(|| {
        Error::Unauthenticated(format!("the request carries no verified {claim} claim"))
    })?;
    TenantId::parse(claim, value)
        .map_err(|_| Error::Unauthenticated(format!("the {claim} claim is not a tenant id")))
}

/// The platform's operator calling, named by the token's `sub`: the
/// verified token must carry `rule`'s claim with its value (or a list
/// claim naming it). A tenant's token is 403; none is 401.
pub fn operator(req: &Request, rule: &crate::config::OperatorClaim) -> Result<String, Error> {
    let claims = verified_claims(req)
        .ok_or_else(|| Error::Unauthenticated("the request carries no verified token".into()))?;
    let holds = claims.get(&rule.claim).is_some_and(|v| {
        v == &rule.value
            || v.strip_prefix('[')
                .and_then(|v| v.strip_suffix(']'))
                .is_some_and(|list| {
                    list.split([' ', ','])
                        .any(|item| item.trim_matches('"') == rule.value)
                })
    });
    if !holds {
        return Err(Error::Forbidden(
            "this route is for the platform's operators".into(),
        ));
    }
    Ok(claims
        .get("sub")
        .cloned()
        .unwrap_or_else(|| "operator".to_owned()))
}

fn verified_claims(req: &Request) -> Option<&std::collections::HashMap<String, String>> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|j| &j.claims),
        _ => None,
    }
}

/// Refuses unless `caller` is `owner`.
pub fn require_same_tenant(caller: &TenantId, owner: &TenantId, what: &str) -> Result<(), Error> {
    if caller == owner {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "{what} belongs to another tenant"
        )))
    }
}

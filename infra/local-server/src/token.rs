//! Local bearer tokens: HS256, signed with the key the local stack makes,
//! standing in for the identity provider whose tokens API Gateway's JWT
//! authorizer verifies in AWS. Used by the local server (to verify), by
//! `infra/token.sh` and by the tests (to mint).

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use custom_domains::Error;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

/// Verifies and mints HS256 tokens with the local signing key
/// (`jsonwebtoken`, with the algorithm pinned).
#[derive(Clone)]
pub struct LocalJwt {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub issuer: String,
    pub audience: String,
}

impl std::fmt::Debug for LocalJwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalJwt")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// The issuer and audience of local tokens.
pub const LOCAL_ISSUER: &str = "custom-domains-local";
pub const LOCAL_AUDIENCE: &str = "custom-domains";

impl LocalJwt {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer: LOCAL_ISSUER.to_owned(),
            audience: LOCAL_AUDIENCE.to_owned(),
        }
    }

    /// Reads the signing key from the file `LOCAL_JWT_SECRET_FILE` names.
    pub fn from_env() -> Result<Self, Error> {
        let path = std::env::var("LOCAL_JWT_SECRET_FILE").map_err(|_| {
            Error::Internal(
                "LOCAL_JWT_SECRET_FILE is not set: the local server verifies tokens with it".into(),
            )
        })?;
        let secret = std::fs::read(&path)
            .map_err(|e| Error::Internal(format!("LOCAL_JWT_SECRET_FILE {path}: {e}")))?;
        Ok(Self::new(secret.trim_ascii()))
    }

    /// A token for `tenant` under `claim`, valid for `ttl_secs`.
    pub fn mint(&self, claim: &str, tenant: &str, ttl_secs: u64) -> String {
        let now = now_secs();
        let payload = serde_json::json!({
            "iss": self.issuer, "aud": self.audience, "sub": tenant, claim: tenant,
            "iat": now, "exp": now + ttl_secs,
        });
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &payload, &self.encoding)
            .unwrap_or_else(|e| panic!("an HS256 token could not be made: {e}"))
    }

    /// A token for the platform's operator `name` (`sub`), carrying the
    /// operator claim and no tenant.
    pub fn mint_operator(
        &self,
        rule: &custom_domains::config::OperatorClaim,
        name: &str,
        ttl_secs: u64,
    ) -> String {
        let now = now_secs();
        let payload = serde_json::json!({
            "iss": self.issuer, "aud": self.audience, "sub": name, &rule.claim: rule.value,
            "iat": now, "exp": now + ttl_secs,
        });
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &payload, &self.encoding)
            .unwrap_or_else(|e| panic!("an HS256 token could not be made: {e}"))
    }

    /// Verifies `Authorization: Bearer <token>` as API Gateway's JWT
    /// authorizer would (signature, `exp`, `nbf`, `iss`, `aud`); answers the
    /// claims as API Gateway passes them (string values).
    pub fn verify(&self, authorization: Option<&str>) -> Result<HashMap<String, String>, Error> {
        let unauthenticated =
            |why: &str| Error::Unauthenticated(format!("the bearer token is {why}"));
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .ok_or_else(|| Error::Unauthenticated("send Authorization: Bearer <token>".into()))?
            .trim();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_nbf = true;
        validation.leeway = 0;
        // Valid while `exp` is in the future, as API Gateway has it.
        validation.reject_tokens_expiring_in_less_than = 1;
        let payload = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &self.decoding,
            &validation,
        )
        .map_err(|e| {
            unauthenticated(match e.kind() {
                ErrorKind::ExpiredSignature => "expired",
                ErrorKind::ImmatureSignature => "not valid yet",
                ErrorKind::InvalidIssuer => "from another issuer",
                ErrorKind::InvalidAudience => "for another audience",
                ErrorKind::InvalidSignature => "not signed with the local signing key",
                ErrorKind::InvalidAlgorithm => "signed with an algorithm other than HS256",
                ErrorKind::MissingRequiredClaim(_) => "missing exp",
                _ => "malformed",
            })
        })?
        .claims;
        Ok(payload
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect())
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::prelude::{Engine, BASE64_URL_SAFE_NO_PAD};

    #[test]
    fn tokens_verify_and_tampering_is_refused() {
        let jwt = LocalJwt::new(b"secret");
        let token = jwt.mint("tenant_id", "org-1", 60);
        let claims = jwt.verify(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(claims["tenant_id"], "org-1");

        let other = LocalJwt::new(b"other secret").mint("tenant_id", "org-1", 60);
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_payload = BASE64_URL_SAFE_NO_PAD.encode(
            serde_json::json!({"iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE, "tenant_id": "org-2", "exp": now_secs() + 60})
                .to_string(),
        );
        parts[1] = &forged_payload;
        let forged = parts.join(".");
        let none_alg = format!(
            "{}.{}.",
            BASE64_URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            token.split('.').nth(1).unwrap()
        );
        let expired = jwt.mint("tenant_id", "org-1", 0);
        for bad in [
            None,
            Some("Basic abc".to_owned()),
            Some(format!("Bearer {other}")),
            Some(format!("Bearer {forged}")),
            Some(format!("Bearer {none_alg}")),
            Some(format!("Bearer {expired}")),
            Some("Bearer a.b".to_owned()),
        ] {
            let err = jwt.verify(bad.as_deref()).unwrap_err();
            assert_eq!(err.status(), 401, "{bad:?}");
        }
    }
}

//! Local bearer tokens: HS256, signed with the key the local stack makes,
//! standing in for the identity provider whose tokens API Gateway's JWT
//! authorizer verifies in AWS. Used by the local server (to verify), by
//! `infra/token.sh` and by the tests (to mint).

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::prelude::{Engine, BASE64_URL_SAFE_NO_PAD};
use custom_domains::Error;

/// Verifies and mints HS256 tokens with the local signing key.
#[derive(Clone)]
pub struct LocalJwt {
    key: aws_lc_rs::hmac::Key,
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
            key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
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
        let header = serde_json::json!({ "alg": "HS256", "typ": "JWT" });
        let payload = serde_json::json!({
            "iss": self.issuer, "aud": self.audience, "sub": tenant, claim: tenant,
            "iat": now, "exp": now + ttl_secs,
        });
        let signing_input = format!(
            "{}.{}",
            BASE64_URL_SAFE_NO_PAD.encode(header.to_string()),
            BASE64_URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        let tag = aws_lc_rs::hmac::sign(&self.key, signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            BASE64_URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
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
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(unauthenticated("malformed"));
        };
        let decode = |part: &str| {
            BASE64_URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| unauthenticated("malformed"))
        };
        let header: serde_json::Value =
            serde_json::from_slice(&decode(h)?).map_err(|_| unauthenticated("malformed"))?;
        if header["alg"] != "HS256" {
            return Err(unauthenticated("signed with an algorithm other than HS256"));
        }
        aws_lc_rs::hmac::verify(&self.key, format!("{h}.{p}").as_bytes(), &decode(s)?)
            .map_err(|_| unauthenticated("not signed with the local signing key"))?;
        let payload: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&decode(p)?).map_err(|_| unauthenticated("malformed"))?;
        let now = now_secs();
        let number = |k: &str| payload.get(k).and_then(serde_json::Value::as_u64);
        match number("exp") {
            Some(exp) if exp > now => {}
            Some(_) => return Err(unauthenticated("expired")),
            None => return Err(unauthenticated("missing exp")),
        }
        if number("nbf").is_some_and(|nbf| nbf > now) {
            return Err(unauthenticated("not valid yet"));
        }
        if payload.get("iss").and_then(|v| v.as_str()) != Some(self.issuer.as_str()) {
            return Err(unauthenticated("from another issuer"));
        }
        let audience_ok = match payload.get("aud") {
            Some(serde_json::Value::String(a)) => a == &self.audience,
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .any(|a| a.as_str() == Some(self.audience.as_str())),
            _ => false,
        };
        if !audience_ok {
            return Err(unauthenticated("for another audience"));
        }
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

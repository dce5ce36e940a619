//! The tenant a request acts for.

use std::fmt;

use crate::error::Code;
use crate::error::Error;

/// A tenant identifier (`org_id` on the ACME path, `workspace_id` on the ACM
/// path): 1–64 characters of `A-Z a-z 0-9 _ -`. The restriction keeps it safe
/// inside DynamoDB keys, log fields and ACM tags.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(field: &str, input: &str) -> Result<Self, Error> {
        let ok = !input.is_empty()
            && input.len() <= 64
            && input
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(Error::validation(
                Code::InvalidTenant,
                format!("{field} must be 1 to 64 letters, digits, '-' or '_'"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for TenantId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        TenantId::parse("tenant", &raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::TenantId;

    #[test]
    fn parses() {
        assert!(TenantId::parse("org_id", "org-42_A").is_ok());
        for bad in ["", "a b", "a#b", "ü", &"x".repeat(65)] {
            assert_eq!(TenantId::parse("org_id", bad).unwrap_err().status(), 400);
        }
    }
}

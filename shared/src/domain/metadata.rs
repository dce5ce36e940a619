//! The platform's own data about a hostname (`custom_metadata`), as
//! Cloudflare for SaaS and Vercel carry it: a JSON object the product
//! stores with the claim, returns on the status and list routes and
//! carries in every event, and never reads itself.

use serde_json::{Map, Value};

use crate::error::{Code, Error};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomMetadata(Map<String, Value>);

impl CustomMetadata {
    /// Its largest size, serialised (as Cloudflare for SaaS allows): room
    /// for the platform's IDs and labels, small enough to ride on every
    /// event and item.
    pub const MAX_BYTES: usize = 4096;

    /// A request's `custom_metadata`: a JSON object of at most
    /// [`Self::MAX_BYTES`] bytes, serialised; anything else is a 400.
    pub fn parse(value: &Value) -> Result<Self, Error> {
        let Value::Object(map) = value else {
            return Err(Error::validation(
                Code::InvalidMetadata,
                "custom_metadata must be a JSON object",
            ));
        };
        let metadata = Self(map.clone());
        let size = metadata.to_json().len();
        if size > Self::MAX_BYTES {
            return Err(Error::validation(
                Code::InvalidMetadata,
                format!(
                    "custom_metadata is {size} bytes as JSON; at most {} are kept",
                    Self::MAX_BYTES
                ),
            ));
        }
        Ok(metadata)
    }

    /// As stored: compact JSON.
    pub fn to_json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }

    /// From what [`Self::to_json`] stored (`None` if it is not an object).
    pub fn from_stored(text: &str) -> Option<Self> {
        match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Some(Self(map)),
            _ => None,
        }
    }

    pub fn as_value(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

impl serde::Serialize for CustomMetadata {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_object_up_to_4_kb_is_kept_and_anything_else_refused() {
        let kept = CustomMetadata::parse(&json!({"site_id": 42, "plan": "pro"})).unwrap();
        assert_eq!(
            CustomMetadata::from_stored(&kept.to_json()),
            Some(kept.clone())
        );
        for bad in [json!([1]), json!("x"), json!(null), json!(3)] {
            let e = CustomMetadata::parse(&bad).unwrap_err();
            assert_eq!(
                (e.status(), e.code()),
                (400, Code::InvalidMetadata),
                "{bad}"
            );
        }
        // {"k":"…"} is 8 bytes around the value.
        let fits = json!({ "k": "x".repeat(CustomMetadata::MAX_BYTES - 8) });
        assert!(CustomMetadata::parse(&fits).is_ok());
        let over = json!({ "k": "x".repeat(CustomMetadata::MAX_BYTES - 7) });
        assert!(CustomMetadata::parse(&over).is_err());
    }
}

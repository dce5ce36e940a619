//! Records as items: serde structs to DynamoDB attribute maps and back,
//! with their keys (and, for versioned records, their index keys).

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{s, Item, Versioned};
use crate::error::Error;

/// A record as stored: its attributes and its key.
pub(super) fn keyed<T: Serialize>(
    record: &T,
    pk: &AttributeValue,
    sk: &str,
) -> Result<Item, Error> {
    let mut item = to_item(record)?;
    item.insert("pk".into(), pk.clone());
    item.insert("sk".into(), s(sk));
    Ok(item)
}

/// A versioned record as stored: its attributes, its key, and its index
/// keys.
pub(super) fn stored_item<T: Versioned>(
    record: &T,
    pk: &AttributeValue,
    sk: &str,
) -> Result<Item, Error> {
    let mut item = keyed(record, pk, sk)?;
    item.extend(
        record
            .index_attributes()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v)),
    );
    Ok(item)
}

/// Turns a serde struct into a DynamoDB item (numbers as `N`, maps as `M`,
/// `None` left out).
///
/// Kept by hand rather than `serde_dynamo` (tried: 4.3 with
/// `aws-sdk-dynamodb+1`): it pulls base64 0.21 beside the 0.22 the rest of
/// the build uses, a duplicate crate version in every Lambda binary, and
/// these records use only `S`, `N`, `BOOL`, `L` and `M`, which the two small
/// functions here cover (with the round-trip test below); `serde_dynamo`'s
/// extra reach (sets, binary) is nothing they need.
pub fn to_item<T: Serialize>(value: &T) -> Result<Item, Error> {
    match serde_json::to_value(value).map_err(|e| Error::Internal(e.to_string()))? {
        serde_json::Value::Object(map) => Ok(map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, to_attribute(v)))
            .collect()),
        _ => Err(Error::Internal("only structs are stored".into())),
    }
}

fn to_attribute(value: serde_json::Value) -> AttributeValue {
    use serde_json::Value;
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s),
        Value::Array(a) => AttributeValue::L(a.into_iter().map(to_attribute).collect()),
        Value::Object(o) => AttributeValue::M(
            o.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, to_attribute(v)))
                .collect(),
        ),
    }
}

/// The inverse of [`to_item`]; the key attributes are ignored.
pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, Error> {
    let map: serde_json::Map<String, serde_json::Value> = item
        .into_iter()
        .filter(|(k, _)| k != "pk" && k != "sk")
        .map(|(k, v)| Ok((k, from_attribute(v)?)))
        .collect::<Result<_, Error>>()?;
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| Error::Internal(format!("stored record does not parse: {e}")))
}

fn from_attribute(value: AttributeValue) -> Result<serde_json::Value, Error> {
    use serde_json::Value;
    Ok(match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(b),
        AttributeValue::N(n) => Value::Number(
            n.parse::<serde_json::Number>()
                .map_err(|_| Error::Internal(format!("bad stored number {n}")))?,
        ),
        AttributeValue::S(s) => Value::String(s),
        AttributeValue::L(l) => Value::Array(
            l.into_iter()
                .map(from_attribute)
                .collect::<Result<_, _>>()?,
        ),
        AttributeValue::M(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| Ok((k, from_attribute(v)?)))
                .collect::<Result<_, Error>>()?,
        ),
        other => {
            return Err(Error::Internal(format!(
                "unexpected stored attribute {other:?}"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        name: String,
        count: u64,
        flag: bool,
        nested: Option<Vec<String>>,
        missing: Option<String>,
    }

    #[test]
    fn round_trips_through_attributes() {
        let v = Sample {
            name: "a".into(),
            count: 7,
            flag: true,
            nested: Some(vec!["x".into()]),
            missing: None,
        };
        let item = to_item(&v).unwrap();
        assert!(!item.contains_key("missing"));
        assert_eq!(item["count"], AttributeValue::N("7".into()));
        assert_eq!(from_item::<Sample>(item).unwrap(), v);
    }
}

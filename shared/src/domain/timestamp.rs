//! A point in time, UTC: every time the domain model holds.
//!
//! Stored and answered as RFC 3339 (`2026-11-24T13:33:14.5Z`). The
//! [`Timestamp::index_key`] form (whole seconds, fixed width) is what the
//! renewal index sorts on, so that string order is time order.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn now() -> Self {
        Self(OffsetDateTime::now_utc())
    }

    pub fn from_offset(t: OffsetDateTime) -> Self {
        Self(t.to_offset(time::UtcOffset::UTC))
    }

    pub fn from_unix(seconds: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp(seconds).ok().map(Self)
    }

    pub fn parse(text: &str) -> Result<Self, crate::Error> {
        OffsetDateTime::parse(text, &Rfc3339)
            .map(Self::from_offset)
            .map_err(|e| crate::Error::Internal(format!("bad stored time {text:?}: {e}")))
    }

    pub fn offset(&self) -> OffsetDateTime {
        self.0
    }

    pub fn unix(&self) -> i64 {
        self.0.unix_timestamp()
    }

    pub fn plus(self, d: Duration) -> Self {
        Self(self.0 + d)
    }

    pub fn minus(self, d: Duration) -> Self {
        Self(self.0 - d)
    }

    /// How long from `self` until `later` (zero if `later` is not later).
    pub fn until(self, later: Timestamp) -> Duration {
        let d = later.0 - self.0;
        if d.is_positive() {
            Duration::try_from(d).unwrap_or_default()
        } else {
            Duration::ZERO
        }
    }

    /// Whole seconds, fixed width (`2026-11-24T13:33:14Z`): sorts as it reads.
    /// Truncated, so a sweep may see a time up to a second before it comes;
    /// the flow checks the exact time and leaves such a hostname alone.
    pub fn index_key(&self) -> String {
        let t = self.0.replace_nanosecond(0).unwrap_or(self.0);
        let (y, mo, d) = (t.year(), u8::from(t.month()), t.day());
        let (h, mi, s) = (t.hour(), t.minute(), t.second());
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "{}", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339)
            .map(Self::from_offset)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_sorts_as_text() {
        let a = Timestamp::parse("2026-11-24T09:05:03.25+01:00").unwrap();
        assert_eq!(a.to_string(), "2026-11-24T08:05:03.25Z");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), a);
        assert_eq!(a.index_key(), "2026-11-24T08:05:03Z");
        let b = a.plus(Duration::from_secs(3600 * 24 * 400));
        assert!(a.index_key() < b.index_key());
        assert_eq!(a.until(b).as_secs(), 3600 * 24 * 400);
        assert_eq!(b.until(a), Duration::ZERO);
    }
}

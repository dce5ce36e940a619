//! A hostname a tenant may bring.

use std::fmt;
use std::net::IpAddr;

use crate::error::Error;

/// A fully qualified DNS hostname, lower-case ASCII (A-labels for
/// internationalised names), without a trailing dot. Parsing is the only way to
/// make one, so a value of this type is always a name a CA can issue for.
///
/// Rules: no white space or control characters; internationalised names
/// converted to their ASCII form (IDNA, UTS #46, strict); at most 253
/// characters, at least two labels, each label 1–63 of `a-z 0-9 -` not
/// starting or ending with `-`, a final label that is not all digits; no IP
/// address (dotted, bracketed or IPv6); not a public suffix itself (Public
/// Suffix List, through the `psl` crate); no label mixing Latin, Greek or
/// Cyrillic letters. Wildcards are refused: DNS-01 could issue them, but
/// a wildcard on a shared edge would capture every sibling name of a tenant
/// (and ACM's CNAME path cannot serve them), so neither path accepts one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(input: &str) -> Result<Self, Error> {
        let invalid = |why: &str| {
            Error::validation(
                "invalid_domain",
                format!("{:?} is not a valid hostname: {why}", truncate(input)),
            )
        };
        let trimmed = input;
        if trimmed.is_empty() {
            return Err(invalid("it is empty"));
        }
        if trimmed.len() > 1024 {
            return Err(invalid("it is far too long"));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("it contains white space or control characters"));
        }
        let without_dot = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if without_dot.parse::<IpAddr>().is_ok()
            || without_dot
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok()
        {
            return Err(invalid("IP addresses cannot have certificates issued here"));
        }
        if without_dot.contains('*') {
            return Err(invalid("wildcard names are not supported"));
        }
        if without_dot.contains("..") || without_dot.starts_with('.') {
            return Err(invalid("it has an empty label"));
        }
        // IDNA (UTS #46) maps to lower case and converts Unicode labels to
        // their ASCII "xn--" form; strict mode refuses characters DNS forbids.
        let ascii = idna::domain_to_ascii_strict(without_dot)
            .map_err(|_| invalid("it is not a valid internationalised domain name"))?;
        if ascii.len() > 253 {
            return Err(invalid("it is longer than 253 characters"));
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        if labels.len() < 2 {
            return Err(invalid(
                "it needs at least two labels, like shop.example.com",
            ));
        }
        for label in &labels {
            if label.is_empty() || label.len() > 63 {
                return Err(invalid("each label must be 1 to 63 characters"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(invalid("labels may hold only letters, digits and hyphens"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(invalid("a label may not start or end with a hyphen"));
            }
        }
        if labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(invalid("the top-level label cannot be numeric"));
        }
        // A public suffix (com, co.uk, github.io…) belongs to no one tenant.
        if psl::suffix(ascii.as_bytes()).is_some_and(|s| s.as_bytes() == ascii.as_bytes()) {
            return Err(invalid("it is a public suffix, which no tenant can own"));
        }
        let (unicode, _) = idna::domain_to_unicode(&ascii);
        if unicode.split('.').any(mixes_scripts) {
            return Err(invalid(
                "a label mixes Latin, Greek or Cyrillic letters (a look-alike name)",
            ));
        }
        Ok(Self(ascii))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of the DNS-01 TXT record: `_acme-challenge.<name>`.
    pub fn acme_challenge_name(&self) -> String {
        format!("_acme-challenge.{}", self.0)
    }
}

/// Whether a label mixes letters of the scripts most used for look-alike
/// names (e.g. Cyrillic "а" among Latin letters in "pаypal"): such labels
/// are refused, as browsers show them as punycode or warn.
fn mixes_scripts(label: &str) -> bool {
    let (mut latin, mut greek, mut cyrillic) = (false, false, false);
    for c in label.chars() {
        match c as u32 {
            0x41..=0x5A | 0x61..=0x7A | 0xC0..=0x24F | 0x1E00..=0x1EFF => latin = true,
            0x370..=0x3FF | 0x1F00..=0x1FFF => greek = true,
            0x400..=0x52F => cyrillic = true,
            _ => {}
        }
    }
    (latin as u8 + greek as u8 + cyrillic as u8) > 1
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DomainName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for DomainName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for DomainName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        DomainName::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::DomainName;

    #[test]
    fn accepts_and_normalises() {
        for (input, want) in [
            ("shop.example.com", "shop.example.com"),
            ("Shop.Example.COM.", "shop.example.com"),
            ("a-b.c0.example.org", "a-b.c0.example.org"),
            ("bücher.example", "xn--bcher-kva.example"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ] {
            assert_eq!(DomainName::parse(input).unwrap().as_str(), want, "{input}");
        }
    }

    #[test]
    fn refuses_bad_names() {
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        for input in [
            "",
            ".",
            "localhost",
            "*.example.com",
            "a..b.com",
            ".a.com",
            "-a.com",
            "a-.com",
            "a_b.com",
            "1.2.3.4",
            "::1",
            "[::1]",
            "exa mple.com",
            "example.123",
            "com",
            "co.uk",
            "github.io",
            "xn--zz.com",
            "p\u{0430}ypal.com",
            "xn--pypal-4ve.com",
            long_label.as_str(),
            long_name.as_str(),
            "a/b.com",
            "a.com/",
            "evil.com\n",
            " shop.example.com",
        ] {
            let err = DomainName::parse(input).unwrap_err();
            assert_eq!(err.status(), 400, "{input:?} should be refused");
            assert_eq!(err.code(), "invalid_domain");
        }
    }

    #[test]
    fn challenge_name() {
        let d = DomainName::parse("shop.example.com").unwrap();
        assert_eq!(d.acme_challenge_name(), "_acme-challenge.shop.example.com");
    }
}

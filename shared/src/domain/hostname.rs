//! A hostname a tenant may bring.

use std::fmt;
use std::net::IpAddr;

use crate::error::Code;
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
/// Cyrillic letters, and none written wholly in Cyrillic look-alikes of
/// Latin letters outside Cyrillic top-level domains; no invisible formatting
/// characters, and no stacked combining marks. Wildcards are refused: DNS-01 could issue them, but
/// a wildcard on a shared edge would capture every sibling name of a tenant
/// (and ACM's CNAME path cannot serve them), so neither path accepts one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(input: &str) -> Result<Self, Error> {
        let invalid = |why: &str| {
            Error::validation(
                Code::InvalidDomain,
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
        if trimmed
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
        {
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
        let tld = ascii.rsplit('.').next().unwrap_or_default();
        if unicode
            .chars()
            .any(|c| !(c == '.' || c == '-' || c.is_alphanumeric() || is_mark(c)))
        {
            return Err(invalid(
                "it holds symbols (emoji, punctuation) that IDNA 2008 forbids",
            ));
        }
        if unicode.split('.').any(stacks_marks) {
            return Err(invalid("a label stacks combining marks"));
        }
        if unicode.split('.').any(mixes_scripts)
            || (!CYRILLIC_TLDS.contains(&tld) && unicode.split('.').any(cyrillic_look_alike))
        {
            return Err(invalid(
                "a label mixes Latin, Greek or Cyrillic letters (a look-alike name)",
            ));
        }
        Ok(Self(ascii))
    }

    /// A name the product stored (it passed [`DomainName::parse`] when it
    /// was claimed), read back: only its form is checked (ASCII letters,
    /// digits, hyphens and dots, at most 253 characters), not the rules
    /// that may change after it was accepted (a newer Public Suffix List,
    /// stricter look-alike checks). A name stored under older rules must
    /// still list, release and renew.
    pub fn stored(text: &str) -> Result<Self, Error> {
        let well_formed = !text.is_empty()
            && text.len() <= 253
            && text.split('.').count() >= 2
            && text.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        match well_formed {
            true => Ok(Self(text.to_owned())),
            false => Err(Error::Internal(format!(
                "a stored hostname is malformed: {text:?}"
            ))),
        }
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

/// Invisible formatting characters (zero-width spaces and joiners,
/// direction overrides, the byte-order mark, soft hyphens): IDNA would drop
/// some silently, so a name that holds one is refused rather than rewritten.
fn is_invisible(c: char) -> bool {
    matches!(c as u32, 0xAD | 0x34F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0xFEFF)
}

/// A combining mark (the common blocks).
fn is_mark(c: char) -> bool {
    matches!(c as u32, 0x300..=0x36F | 0x483..=0x489 | 0x591..=0x5BD | 0x610..=0x61A | 0x64B..=0x65F
        | 0x900..=0x903 | 0x93A..=0x94F | 0xE31 | 0xE34..=0xE3A | 0xE47..=0xE4E
        | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0x3099..=0x309A | 0xFE20..=0xFE2F)
}

/// Whether a label (in NFC, as IDNA gives it) has two combining marks in a
/// row: stacked diacritics that render over or hide their base letter.
fn stacks_marks(label: &str) -> bool {
    label
        .chars()
        .zip(label.chars().skip(1))
        .any(|(a, b)| is_mark(a) && is_mark(b))
}

/// Cyrillic letters that look like Latin ones.
const CYRILLIC_LOOK_ALIKES: &str = "аеорсухіјѕԁӏԛԝһвкмнтпгёїӑӓӧ";

/// Top-level domains where all-Cyrillic labels are ordinary (.рф, .бг,
/// .укр, .срб, .мкд, .қаз, .мон, .бел, and Cyrillic-script countries).
const CYRILLIC_TLDS: &[&str] = &[
    "xn--p1ai",
    "xn--90ae",
    "xn--j1amh",
    "xn--90a3ac",
    "xn--d1alf",
    "xn--80ao21a",
    "xn--l1acc",
    "xn--90ais",
    "ru",
    "su",
    "ua",
    "by",
    "kz",
    "kg",
    "bg",
    "mk",
    "rs",
    "mn",
    "tj",
    "uz",
];

/// Whether a label is written wholly in Cyrillic letters that look Latin
/// ("аррӏе" for "apple"): a whole-script look-alike, refused outside
/// Cyrillic top-level domains, as browsers show such names as punycode.
fn cyrillic_look_alike(label: &str) -> bool {
    let letters: Vec<char> = label.chars().filter(|c| c.is_alphabetic()).collect();
    !letters.is_empty() && letters.iter().all(|c| CYRILLIC_LOOK_ALIKES.contains(*c))
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

/// Read back from storage (the only place names are deserialised): see
/// [`DomainName::stored`].
impl<'de> serde::Deserialize<'de> for DomainName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        DomainName::stored(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::DomainName;

    #[test]
    fn a_stored_name_reads_back_whatever_todays_rules_say() {
        // A public suffix today (refused to a new claim), stored under
        // older rules: it still reads back, from an item or a cursor.
        assert!(DomainName::parse("github.io").is_err());
        let stored: DomainName = serde_json::from_str("\"github.io\"").unwrap();
        assert_eq!(stored.as_str(), "github.io");
        assert!(DomainName::stored("Not A Name").is_err());
        assert!(DomainName::stored("nodot").is_err());
    }

    #[test]
    fn accepts_and_normalises() {
        for (input, want) in [
            ("shop.example.com", "shop.example.com"),
            ("Shop.Example.COM.", "shop.example.com"),
            ("a-b.c0.example.org", "a-b.c0.example.org"),
            ("bücher.example", "xn--bcher-kva.example"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
            ("пример.рф", "xn--e1afmkfd.xn--p1ai"),
            ("магазин.example.com", "xn--80aairftm.example.com"),
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
            "xn--80ak6aa92e.com",
            "example\u{200B}.com",
            "e\u{301}\u{301}\u{301}.com",
            "\u{1F600}.com",
            "\u{202E}moc.elpmaxe",
            long_label.as_str(),
            long_name.as_str(),
            "a/b.com",
            "a.com/",
            "evil.com\n",
            " shop.example.com",
        ] {
            let err = DomainName::parse(input).unwrap_err();
            assert_eq!(err.status(), 400, "{input:?} should be refused");
            assert_eq!(err.code(), crate::error::Code::InvalidDomain);
        }
    }

    #[test]
    fn challenge_name() {
        let d = DomainName::parse("shop.example.com").unwrap();
        assert_eq!(d.acme_challenge_name(), "_acme-challenge.shop.example.com");
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::DomainName;

        /// What every parsed name satisfies.
        fn canonical(d: &DomainName) {
            let s = d.as_str();
            assert!(s.is_ascii() && s == s.to_ascii_lowercase(), "{s}");
            assert!(s.len() <= 253 && !s.ends_with('.'), "{s}");
            for label in s.split('.') {
                assert!((1..=63).contains(&label.len()), "{s}");
                assert!(!label.starts_with('-') && !label.ends_with('-'), "{s}");
                assert!(
                    label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
                    "{s}"
                );
            }
            assert!(s.parse::<std::net::IpAddr>().is_err(), "{s}");
            assert_eq!(
                DomainName::parse(s).ok().as_ref().map(DomainName::as_str),
                Some(s),
                "parsing is idempotent"
            );
        }

        fn label() -> impl Strategy<Value = String> {
            "[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?"
                .prop_filter("no xn-- or -- in 3-4", |l| l.len() < 4 || &l[2..4] != "--")
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn any_input_is_refused_or_canonical(input in "\\PC{0,80}") {
                if let Ok(d) = DomainName::parse(&input) {
                    canonical(&d);
                }
            }

            #[test]
            fn any_dotted_input_is_refused_or_canonical(labels in prop::collection::vec("\\PC{0,12}", 1..6)) {
                if let Ok(d) = DomainName::parse(&labels.join(".")) {
                    canonical(&d);
                }
            }

            #[test]
            fn ordinary_names_parse_whatever_their_case_or_trailing_dot(
                labels in prop::collection::vec(label(), 1..4),
                tld in "(com|net|org|io|dev|de)",
                upper in any::<bool>(),
                dot in any::<bool>(),
            ) {
                let name = format!("{}.{tld}", labels.join("."));
                // A generated name may itself be on the Public Suffix List
                // (r2.dev, github.io…): rightly refused, so not "ordinary".
                prop_assume!(
                    psl::suffix(name.as_bytes()).is_none_or(|s| s.as_bytes() != name.as_bytes())
                );
                let mut input = if upper { name.to_ascii_uppercase() } else { name.clone() };
                if dot {
                    input.push('.');
                }
                let parsed = DomainName::parse(&input).ok().map(|d| d.as_str().to_owned());
                prop_assert_eq!(parsed, Some(name));
            }

            #[test]
            fn ip_addresses_are_always_refused(v4 in any::<[u8; 4]>(), v6 in any::<[u16; 8]>()) {
                let v4 = std::net::Ipv4Addr::from(v4).to_string();
                let v6 = std::net::Ipv6Addr::from(v6).to_string();
                let bracketed = format!("[{v6}]");
                for ip in [v4.as_str(), v6.as_str(), bracketed.as_str()] {
                    prop_assert!(DomainName::parse(ip).is_err(), "{} was accepted", ip);
                }
            }
        }
    }
}

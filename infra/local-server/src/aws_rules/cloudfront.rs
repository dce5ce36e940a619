//! CloudFront's rules.

use super::{xml_text, InFlight, Refusal};
use crate::iam::request::Sent;

pub(super) fn before(sent: &Sent, _flight: &mut InFlight) -> Result<(), Refusal> {
    let path = sent.path.strip_prefix("/2020-05-31").unwrap_or(sent.path);
    if sent.method == "POST" && path == "/distribution-tenant" {
        let name = xml_text(sent.body, "Name").unwrap_or_default();
        if !tenant_name_ok(name) {
            return Err(Refusal::new(
                400,
                "InvalidArgument",
                format!(
                    "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9][a-zA-Z0-9-.]{{1,126}}[a-zA-Z0-9]"
                ),
            ));
        }
    }
    Ok(())
}

fn tenant_name_ok(name: &str) -> bool {
    let b = name.as_bytes();
    let edge = |c: &u8| c.is_ascii_alphanumeric();
    (3..=128).contains(&b.len())
        && edge(&b[0])
        && edge(&b[b.len() - 1])
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_name_past_128_characters_is_refused() {
        let create = |name: &str| {
            format!("<CreateDistributionTenantRequest><DistributionId>E1</DistributionId><Name>{name}</Name></CreateDistributionTenantRequest>")
        };
        let send = |body: &str| {
            before(
                &Sent::new(
                    "POST",
                    "http://h/2020-05-31/distribution-tenant",
                    "",
                    "",
                    body,
                ),
                &mut InFlight::default(),
            )
            .err()
        };
        assert_eq!(send(&create("shop.example.com")), None);
        let long = format!("{}.example.com", "a".repeat(120));
        assert_eq!(
            send(&create(&long)).map(|r| r.code),
            Some("InvalidArgument")
        );
        assert!(send(&create("*.example.com")).is_some());
    }
}

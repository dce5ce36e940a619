//! Rules AWS applies to a request that the local emulators skip, answered
//! as AWS answers them. Each rule names its source. Checked by the same SDK
//! HTTP client that enforces IAM (`iam::client`), under `make dev` and in
//! `make test`.
//!
//! | rule | AWS's answer | source |
//! |---|---|---|
//! | a distribution tenant's `Name` matches `[a-zA-Z0-9][a-zA-Z0-9-.]{1,126}[a-zA-Z0-9]` (ministack takes any) | `400 InvalidArgument` | botocore's CloudFront model, `CreateDistributionTenantRequest.Name` |

use crate::iam::request::Sent;

/// How AWS refuses a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

/// The rule `sent` breaks, if any.
pub fn refusal(service: &str, sent: &Sent) -> Option<Refusal> {
    let path = sent.path.strip_prefix("/2020-05-31").unwrap_or(sent.path);
    if service == "cloudfront" && sent.method == "POST" && path == "/distribution-tenant" {
        let name = sent
            .body
            .split("<Name>")
            .nth(1)
            .and_then(|rest| rest.split("</Name>").next())
            .unwrap_or_default();
        if !tenant_name_ok(name) {
            return Some(Refusal {
                status: 400,
                code: "InvalidArgument",
                message: format!(
                    "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9][a-zA-Z0-9-.]{{1,126}}[a-zA-Z0-9]"
                ),
            });
        }
    }
    None
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
            refusal(
                "cloudfront",
                &Sent::new(
                    "POST",
                    "http://h/2020-05-31/distribution-tenant",
                    "",
                    "",
                    body,
                ),
            )
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

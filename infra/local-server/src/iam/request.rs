//! Which IAM actions one HTTP request to AWS needs, and on which resource.
//!
//! The service comes from the SigV4 credential scope
//! (`…/<region>/<service>/aws4_request`), the operation from `X-Amz-Target`
//! (JSON protocols) or the method and path (CloudFront, Route 53, API
//! Gateway). Resources are ARNs as IAM evaluates them: a DynamoDB request
//! on an index is authorised against `…:table/<table>/index/<index>`, one
//! that touches several tables (a transaction) against each; an action AWS
//! scopes to no resource type (`acm:ListCertificates`,
//! `acm:RequestCertificate`, `cloudfront:ListDomainConflicts`,
//! `cloudfront:GetDistributionTenantByDomain`, per the Service
//! Authorization Reference) against `*`, and one that makes a new
//! resource against the resource type's `…/*`.
//!
//! Condition keys come from the request where it carries them (KMS's
//! encryption context, Route 53's change, ACM's `Tags` as
//! `aws:RequestTag/<key>` and `aws:TagKeys`); `aws:ResourceTag/<key>` comes
//! from the resource itself, which the client reads from the local AWS
//! before deciding ([`tagged_certificate`], [`add_resource_tags`]).

use super::policy::Context;
use super::ACCOUNT;
use crate::direct::Tags;

/// One action on one resource, with the request's condition keys.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Need {
    pub action: String,
    pub resource: String,
    pub context: Context,
}

fn need(action: String, resource: String) -> Need {
    Need {
        action,
        resource,
        context: Context::new(),
    }
}

/// The certificate whose tags IAM reads for `need` (`aws:ResourceTag/<key>`,
/// the `certificate` resource type's condition key in the Service
/// Authorization Reference for ACM): an ACM action on one certificate. A
/// new certificate (`certificate/*`: a first import, a request) has none.
pub fn tagged_certificate(need: &Need) -> Option<&str> {
    let one = need.action.starts_with("acm:")
        && need.resource.contains(":certificate/")
        && !need.resource.ends_with("/*");
    one.then_some(need.resource.as_str())
}

/// `tags`, the resource's own, as `need`'s `aws:ResourceTag/<key>` keys.
pub fn add_resource_tags(need: &mut Need, tags: &Tags) {
    for (k, v) in tags {
        need.context
            .insert(format!("aws:ResourceTag/{k}"), vec![v.clone()]);
    }
}

/// The `<tag>` texts of an XML body, in order.
fn xml_texts(body: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    body.split(open.as_str())
        .skip(1)
        .filter_map(|rest| rest.split(close.as_str()).next().map(str::to_owned))
        .collect()
}

/// What a request says of itself.
pub struct Sent<'a> {
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    pub query: &'a str,
    pub authorization: &'a str,
    pub target: &'a str,
    pub body: &'a str,
}

impl<'a> Sent<'a> {
    /// `uri` whole, as the SDK sends it.
    pub fn new(
        method: &'a str,
        uri: &'a str,
        authorization: &'a str,
        target: &'a str,
        body: &'a str,
    ) -> Self {
        let after_host = uri
            .split("://")
            .nth(1)
            .and_then(|r| r.find('/').map(|i| &r[i..]))
            .unwrap_or("/");
        let (path, query) = after_host.split_once('?').unwrap_or((after_host, ""));
        Self {
            method,
            path,
            query,
            authorization,
            target,
            body,
        }
    }

    /// The service and region of the SigV4 credential scope.
    pub fn scope(&self) -> (&'a str, &'a str) {
        let scope: Vec<&str> = self
            .authorization
            .split("Credential=")
            .nth(1)
            .and_then(|c| c.split(',').next())
            .unwrap_or_default()
            .split('/')
            .collect();
        (
            scope.get(3).copied().unwrap_or_default(),
            scope.get(2).copied().unwrap_or_default(),
        )
    }
}

/// Every action (with its resource) the request needs; `Err` names a
/// request this module does not know, which is a gap to close here.
pub fn needs(sent: &Sent) -> Result<Vec<Need>, String> {
    let (service, region) = sent.scope();
    let operation = sent.target.rsplit('.').next().unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(sent.body).unwrap_or_default();
    let text = |v: &serde_json::Value, key: &str| v[key].as_str().map(str::to_owned);
    let act = |a: &str| format!("{service}:{a}");
    Ok(match service {
        "dynamodb" => {
            let table = |name: &str| format!("arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}");
            if operation == "TransactWriteItems" {
                let mut all = Vec::new();
                for item in body["TransactItems"].as_array().into_iter().flatten() {
                    for (kind, action) in [
                        ("Put", "PutItem"),
                        ("Delete", "DeleteItem"),
                        ("Update", "UpdateItem"),
                        ("ConditionCheck", "ConditionCheckItem"),
                    ] {
                        if let Some(name) = text(&item[kind], "TableName") {
                            all.push(need(act(action), table(&name)));
                        }
                    }
                }
                all.sort();
                all.dedup();
                all
            } else {
                let name = text(&body, "TableName").unwrap_or_default();
                let resource = match text(&body, "IndexName") {
                    Some(index) => format!("{}/index/{index}", table(&name)),
                    None => table(&name),
                };
                vec![need(act(operation), resource)]
            }
        }
        "kms" => {
            let key = text(&body, "KeyId").unwrap_or_default();
            let arn = match key.starts_with("arn:") {
                true => key,
                false => format!("arn:aws:kms:{region}:{ACCOUNT}:key/{key}"),
            };
            let mut n = need(act(operation), arn);
            if let Some(context) = body["EncryptionContext"].as_object() {
                for (k, v) in context {
                    n.context.insert(
                        format!("kms:EncryptionContext:{k}"),
                        vec![v.as_str().unwrap_or_default().to_owned()],
                    );
                }
                n.context.insert(
                    "kms:EncryptionContextKeys".to_owned(),
                    context.keys().cloned().collect(),
                );
            }
            vec![n]
        }
        "events" => {
            let buses: Vec<String> = body["Entries"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| text(e, "EventBusName").unwrap_or_else(|| "default".to_owned()))
                .collect();
            let mut all: Vec<Need> = buses
                .iter()
                .map(|bus| match bus.starts_with("arn:") {
                    true => need(act(operation), bus.clone()),
                    false => need(
                        act(operation),
                        format!("arn:aws:events:{region}:{ACCOUNT}:event-bus/{bus}"),
                    ),
                })
                .collect();
            all.dedup();
            all
        }
        "acm" => {
            let any = || format!("arn:aws:acm:{region}:{ACCOUNT}:certificate/*");
            let certificate = text(&body, "CertificateArn");
            let mut all = vec![match operation {
                "ListCertificates" | "RequestCertificate" => need(act(operation), "*".to_owned()),
                _ => need(act(operation), certificate.clone().unwrap_or_else(any)),
            }];
            // Tags given with a certificate need AddTagsToCertificate too.
            if operation != "AddTagsToCertificate" && body.get("Tags").is_some() {
                all.push(need(
                    act("AddTagsToCertificate"),
                    certificate.unwrap_or_else(any),
                ));
            }
            // The tags a request sets are its `aws:RequestTag/<key>` (a
            // first import has no `aws:ResourceTag` yet).
            let tags = crate::direct::tags_of(&body["Tags"]);
            if !tags.is_empty() {
                for n in &mut all {
                    for (k, v) in &tags {
                        n.context
                            .insert(format!("aws:RequestTag/{k}"), vec![v.clone()]);
                    }
                    n.context.insert(
                        "aws:TagKeys".to_owned(),
                        tags.iter().map(|(k, _)| k.clone()).collect(),
                    );
                }
            }
            all
        }
        "cloudfront" => {
            let rest = sent.path.strip_prefix("/2020-05-31").unwrap_or(sent.path);
            let arn = |kind: &str, id: &str| format!("arn:aws:cloudfront::{ACCOUNT}:{kind}/{id}");
            let id = |prefix: &str| {
                rest.strip_prefix(prefix)
                    .and_then(|r| r.split('/').next())
                    .unwrap_or_default()
                    .to_owned()
            };
            let one = |action: &str, resource: String| vec![need(act(action), resource)];
            match (sent.method, rest) {
                ("GET", p) if p.starts_with("/distribution/") && p.ends_with("/config") => one(
                    "GetDistributionConfig",
                    arn("distribution", &id("/distribution/")),
                ),
                ("PUT", p) if p.starts_with("/distribution/") && p.ends_with("/config") => one(
                    "UpdateDistribution",
                    arn("distribution", &id("/distribution/")),
                ),
                ("GET", p) if p.starts_with("/distribution/") => one(
                    "GetDistribution",
                    arn("distribution", &id("/distribution/")),
                ),
                ("POST", "/distribution-tenant") => {
                    one("CreateDistributionTenant", arn("distribution-tenant", "*"))
                }
                ("GET", "/distribution-tenant") => {
                    one("GetDistributionTenantByDomain", "*".to_owned())
                }
                ("GET", p) if p.starts_with("/distribution-tenant/") => one(
                    "GetDistributionTenant",
                    arn("distribution-tenant", &id("/distribution-tenant/")),
                ),
                ("PUT", p) if p.starts_with("/distribution-tenant/") => one(
                    "UpdateDistributionTenant",
                    arn("distribution-tenant", &id("/distribution-tenant/")),
                ),
                ("DELETE", p) if p.starts_with("/distribution-tenant/") => one(
                    "DeleteDistributionTenant",
                    arn("distribution-tenant", &id("/distribution-tenant/")),
                ),
                ("POST", "/domain-conflicts") => one("ListDomainConflicts", "*".to_owned()),
                ("GET", p) if p.starts_with("/managed-certificate/") => one(
                    "GetManagedCertificateDetails",
                    arn("distribution-tenant", &id("/managed-certificate/")),
                ),
                ("POST", "/connection-groups") => one("ListConnectionGroups", "*".to_owned()),
                ("GET", p) if p.starts_with("/connection-group/") => one(
                    "GetConnectionGroup",
                    arn("connection-group", &id("/connection-group/")),
                ),
                (method, _) => return Err(format!("CloudFront {method} {}", sent.path)),
            }
        }
        "route53" => {
            let rest = sent.path.strip_prefix("/2013-04-01").unwrap_or(sent.path);
            let id = |prefix: &str| {
                rest.strip_prefix(prefix)
                    .and_then(|r| r.split('/').next())
                    .unwrap_or_default()
                    .to_owned()
            };
            match sent.method {
                "POST" if rest.starts_with("/hostedzone/") && rest.contains("/rrset") => {
                    let mut n = need(
                        act("ChangeResourceRecordSets"),
                        format!("arn:aws:route53:::hostedzone/{}", id("/hostedzone/")),
                    );
                    // Route 53's condition keys: what the change does, to
                    // which record types, under which names (lower case,
                    // no final dot).
                    let names = xml_texts(sent.body, "Name")
                        .iter()
                        .map(|name| name.trim_end_matches('.').to_ascii_lowercase())
                        .collect();
                    n.context.insert(
                        "route53:ChangeResourceRecordSetsActions".to_owned(),
                        xml_texts(sent.body, "Action"),
                    );
                    n.context.insert(
                        "route53:ChangeResourceRecordSetsRecordTypes".to_owned(),
                        xml_texts(sent.body, "Type"),
                    );
                    n.context.insert(
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames".to_owned(),
                        names,
                    );
                    vec![n]
                }
                "GET" if rest.starts_with("/change/") => vec![need(
                    act("GetChange"),
                    format!("arn:aws:route53:::change/{}", id("/change/")),
                )],
                method => return Err(format!("Route 53 {method} {}", sent.path)),
            }
        }
        // One secret, named by its ARN (or its name: IAM matches the ARN,
        // whose last part ends in six random characters).
        "secretsmanager" => {
            let id = text(&body, "SecretId").unwrap_or_default();
            vec![need(
                act(operation),
                match id.starts_with("arn:") {
                    true => id,
                    false => {
                        format!("arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{id}-??????")
                    }
                },
            )]
        }
        // API Gateway's IAM actions are its HTTP verbs on resource paths.
        "apigateway" => vec![need(
            format!("apigateway:{}", sent.method),
            format!(
                "arn:aws:apigateway:{region}::{}",
                sent.path.strip_prefix("/v2").unwrap_or(sent.path)
            ),
        )],
        other => {
            return Err(format!(
                "AWS service {other:?} ({} {})",
                sent.method, sent.path
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=testing/20261203/eu-west-1/dynamodb/aws4_request, SignedHeaders=host";

    #[test]
    fn a_query_on_an_index_is_on_the_index_and_a_transaction_on_each_table() {
        let body = r#"{"TableName":"t","IndexName":"PendingByTenant"}"#;
        let sent = Sent::new(
            "POST",
            "http://127.0.0.1:5000/",
            AUTH,
            "DynamoDB_20120810.Query",
            body,
        );
        assert_eq!(
            needs(&sent).unwrap(),
            [need(
                "dynamodb:Query".into(),
                "arn:aws:dynamodb:eu-west-1:123456789012:table/t/index/PendingByTenant".into()
            )]
        );
        let body = r#"{"TransactItems":[{"Put":{"TableName":"t"}},{"ConditionCheck":{"TableName":"t"}},{"Put":{"TableName":"t"}}]}"#;
        let sent = Sent::new(
            "POST",
            "http://h/",
            AUTH,
            "DynamoDB_20120810.TransactWriteItems",
            body,
        );
        let actions: Vec<String> = needs(&sent)
            .unwrap()
            .into_iter()
            .map(|n| n.action)
            .collect();
        assert_eq!(actions, ["dynamodb:ConditionCheckItem", "dynamodb:PutItem"]);
    }

    #[test]
    fn paths_name_cloudfront_route53_and_api_gateway_resources() {
        let cf = AUTH.replace("eu-west-1/dynamodb", "us-east-1/cloudfront");
        let sent = Sent::new(
            "PUT",
            "http://h/2020-05-31/distribution/E1/config",
            &cf,
            "",
            "",
        );
        assert_eq!(
            needs(&sent).unwrap()[0].resource,
            "arn:aws:cloudfront::123456789012:distribution/E1"
        );
        let sent = Sent::new(
            "GET",
            "http://h/2020-05-31/distribution-tenant?domain=x",
            &cf,
            "",
            "",
        );
        assert_eq!(needs(&sent).unwrap()[0].resource, "*");
        let r53 = AUTH.replace("eu-west-1/dynamodb", "us-east-1/route53");
        let sent = Sent::new(
            "POST",
            "http://h/2013-04-01/hostedzone/Z1/rrset/",
            &r53,
            "",
            "",
        );
        assert_eq!(
            needs(&sent).unwrap()[0].resource,
            "arn:aws:route53:::hostedzone/Z1"
        );
        let apigw = AUTH.replace("dynamodb", "apigateway");
        let sent = Sent::new(
            "DELETE",
            "http://h/v2/domainnames/x.example.com",
            &apigw,
            "",
            "",
        );
        assert_eq!(
            needs(&sent).unwrap(),
            [need(
                "apigateway:DELETE".into(),
                "arn:aws:apigateway:eu-west-1::/domainnames/x.example.com".into()
            )]
        );
    }
}

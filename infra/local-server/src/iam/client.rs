//! The SDK HTTP client that enforces the functions' policies: each request
//! a function makes is checked (`policy::Policies::decide`) before it is
//! sent; a denied one is never sent, and is answered as its service answers
//! an `AccessDenied`, so the product meets exactly what AWS would return.
//! It also applies the request rules of `crate::aws_rules` (AWS's own
//! validation the emulators skip) to every request.

use std::sync::Arc;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

use super::policy::{Decision, Policies};
use super::request::{add_resource_tags, needs, tagged_certificate, Need, Sent};
use crate::direct::{Direct, Failed, Tags};

/// Told of every request a function makes, before it is sent: the
/// function, the request's needs as IAM evaluated them (resource tags
/// included), and the one refused, if any (the tests record them).
pub type Observer = Arc<dyn Fn(&str, &[Need], Option<&Need>) + Send + Sync>;

/// Wraps `inner`, checking every request a function makes against
/// `policies`.
#[derive(Clone)]
pub struct Enforcing {
    inner: SharedHttpClient,
    policies: Arc<Policies>,
    observer: Option<Observer>,
}

impl std::fmt::Debug for Enforcing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enforcing").finish_non_exhaustive()
    }
}

impl Enforcing {
    pub fn new(inner: SharedHttpClient, policies: Policies) -> Self {
        Self {
            inner,
            policies: Arc::new(policies),
            observer: None,
        }
    }

    /// Tells `observer` of every request a function makes.
    pub fn observed(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    pub fn shared(self) -> SharedHttpClient {
        SharedHttpClient::new(self)
    }
}

impl HttpClient for Enforcing {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Connector {
            inner: self.inner.http_connector(settings, components),
            policies: self.policies.clone(),
            observer: self.observer.clone(),
        })
    }
}

struct Connector {
    inner: SharedHttpConnector,
    policies: Arc<Policies>,
    observer: Option<Observer>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").finish_non_exhaustive()
    }
}

/// What a request says of itself, read once.
struct Read {
    method: String,
    uri: String,
    authorization: String,
    target: String,
    body: String,
}

impl Read {
    fn of(request: &HttpRequest) -> Self {
        let header = |name: &str| request.headers().get(name).unwrap_or_default().to_owned();
        Self {
            method: request.method().to_owned(),
            uri: request.uri().to_owned(),
            authorization: header("authorization"),
            target: header("x-amz-target"),
            body: request
                .body()
                .bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default(),
        }
    }

    fn sent(&self) -> Sent<'_> {
        Sent::new(
            &self.method,
            &self.uri,
            &self.authorization,
            &self.target,
            &self.body,
        )
    }
}

/// Every need of `sent` as IAM evaluates it: a certificate's tags read from
/// the local AWS (`aws:ResourceTag/<key>`; none for a certificate that is
/// not there). A request this layer cannot read is one need refused, not
/// waved through: the gap is closed in `request.rs`. `Err`: the local AWS
/// is unreachable, so the request would not reach it either (and IAM
/// would not see it).
async fn evaluated(sent: &Sent<'_>, direct: &Direct) -> Result<Vec<Need>, ConnectorError> {
    let mut all = match needs(sent) {
        Ok(all) => all,
        Err(unknown) => {
            return Ok(vec![Need {
                action: format!("unknown request: {unknown}"),
                resource: "*".to_owned(),
                context: Default::default(),
            }])
        }
    };
    // Each certificate's tags, read once per request.
    let mut read: std::collections::BTreeMap<String, Tags> = Default::default();
    for need in &mut all {
        let Some(arn) = tagged_certificate(need).map(str::to_owned) else {
            continue;
        };
        if !read.contains_key(&arn) {
            let tags = match direct.acm_tags(&arn).await {
                Ok(tags) => tags.unwrap_or_default(),
                Err(Failed::Unreachable(e)) => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, %arn, "IAM: could not read the certificate's tags; evaluating without them");
                    Vec::new()
                }
            };
            read.insert(arn.clone(), tags);
        }
        add_resource_tags(need, &read[&arn]);
    }
    Ok(all)
}

/// The first of `all` that `function`'s policy does not allow.
pub fn refused<'a>(policies: &Policies, function: &str, all: &'a [Need]) -> Option<&'a Need> {
    all.iter().find(|n| {
        policies.decide(function, &n.action, &n.resource, &n.context) != Decision::Allowed
    })
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let read = Read::of(&request);
        // Read now: the function is a task-local of the caller's task.
        let function = custom_domains::routes::current_function();
        let direct = Direct::new(self.inner.clone(), &read.uri, &read.authorization);
        let policies = self.policies.clone();
        let observer = self.observer.clone();
        HttpConnectorFuture::new(async move {
            let sent = read.sent();
            if let Some(function) = function {
                let all = evaluated(&sent, &direct).await?;
                let denied = refused(&policies, function, &all);
                if let Some(observe) = &observer {
                    observe(function, &all, denied);
                }
                if let Some(denied) = denied {
                    tracing::error!(
                        function,
                        action = %denied.action,
                        resource = %denied.resource,
                        "AccessDenied: the function's policy in template.yaml does not allow this request"
                    );
                    return Ok(access_denied(function, denied));
                }
            }
            let (service, _) = sent.scope();
            let flight = match crate::aws_rules::before(service, &sent) {
                Ok(flight) => flight,
                Err(r) => {
                    tracing::warn!(code = r.code, message = %r.message, "refused as AWS would (aws_rules)");
                    return Ok(answer_with(
                        service, r.status, r.code, &r.message, &r.fields,
                    ));
                }
            };
            flight.send(request, &direct).await
        })
    }
}

/// The answer AWS gives a request its caller's policy does not allow.
fn access_denied(function: &str, denied: &Need) -> HttpResponse {
    let message = format!(
        "User: arn:aws:sts::{}:assumed-role/{function}-role/{function} is not authorized to perform: {} on resource: {} because no identity-based policy allows the {} action",
        super::ACCOUNT, denied.action, denied.resource, denied.action
    );
    let service = denied.action.split(':').next().unwrap_or_default();
    match service {
        // REST-XML services name it AccessDenied.
        "cloudfront" | "route53" => answer(service, 403, "AccessDenied", &message),
        "apigateway" => answer(service, 403, "AccessDeniedException", &message),
        _ => answer(service, 400, "AccessDeniedException", &message),
    }
}

/// An error answer in `service`'s protocol: REST-XML (CloudFront, Route 53),
/// REST-JSON with the type in a header (API Gateway), or JSON with
/// `__type` (DynamoDB, ACM, KMS, EventBridge).
pub fn answer(service: &str, status: u16, code: &str, message: &str) -> HttpResponse {
    answer_with(service, status, code, message, &serde_json::Map::new())
}

/// As [`answer`], with `fields` beside the code and message (JSON
/// protocols only: DynamoDB's `CancellationReasons`).
pub fn answer_with(
    service: &str,
    status: u16,
    code: &str,
    message: &str,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> HttpResponse {
    let (content_type, body, error_type) = match service {
        "cloudfront" | "route53" => {
            let ns = match service {
                "cloudfront" => "http://cloudfront.amazonaws.com/doc/2020-05-31/",
                _ => "https://route53.amazonaws.com/doc/2013-04-01/",
            };
            (
                "text/xml",
                format!(
                    "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{ns}\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>local</RequestId></ErrorResponse>"
                ),
                None,
            )
        }
        "apigateway" => {
            let mut body = serde_json::json!({ "message": message });
            if let Some(map) = body.as_object_mut() {
                map.extend(fields.clone());
            }
            ("application/json", body.to_string(), Some(code))
        }
        _ => {
            let mut body = serde_json::json!({ "__type": code, "message": message });
            if let Some(map) = body.as_object_mut() {
                map.extend(fields.clone());
            }
            ("application/x-amz-json-1.1", body.to_string(), None)
        }
    };
    let mut response = HttpResponse::new(
        StatusCode::try_from(status).expect("a valid status"),
        SdkBody::from(body),
    );
    response.headers_mut().insert("content-type", content_type);
    response.headers_mut().insert("x-amzn-requestid", "local");
    if let Some(t) = error_type {
        response
            .headers_mut()
            .insert("x-amzn-errortype", t.to_owned());
    }
    response
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use serde_json::{json, Value};

    use super::*;

    const TEMPLATE: &str = include_str!("../../../../template.yaml");

    /// moto's ACM, as far as these tests go, its gap included: a re-import
    /// stores the certificate anew, without its tags.
    #[derive(Debug, Default)]
    struct Moto {
        certificates: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    }

    #[derive(Debug, Clone)]
    struct MotoConnector(Arc<Moto>);

    impl HttpConnector for MotoConnector {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let target = request.headers().get("x-amz-target").unwrap_or_default();
            let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
            let body: Value = serde_json::from_slice(request.body().bytes().unwrap_or_default())
                .unwrap_or_default();
            let tags: BTreeMap<String, String> =
                crate::direct::tags_of(&body["Tags"]).into_iter().collect();
            let arn = body["CertificateArn"].as_str().map(str::to_owned);
            let mut certificates = self.0.certificates.lock().unwrap();
            let not_found = (
                400,
                json!({"__type": "ResourceNotFoundException", "message": "no such certificate"}),
            );
            let (status, answer) = match (operation.as_str(), arn) {
                ("ListTagsForCertificate", Some(a)) => match certificates.get(&a) {
                    Some(t) => {
                        let list: Vec<Value> = t
                            .iter()
                            .map(|(k, v)| json!({"Key": k, "Value": v}))
                            .collect();
                        (200, json!({ "Tags": list }))
                    }
                    None => not_found,
                },
                ("AddTagsToCertificate", Some(a)) => match certificates.get_mut(&a) {
                    Some(t) => {
                        t.extend(tags);
                        (200, json!({}))
                    }
                    None => not_found,
                },
                ("ImportCertificate", Some(a)) if certificates.contains_key(&a) => {
                    certificates.insert(a.clone(), tags);
                    (200, json!({ "CertificateArn": a }))
                }
                ("ImportCertificate", None) => {
                    let a = format!(
                        "arn:aws:acm:us-east-1:123456789012:certificate/new-{}",
                        certificates.len()
                    );
                    certificates.insert(a.clone(), tags);
                    (200, json!({ "CertificateArn": a }))
                }
                ("DeleteCertificate", Some(a)) => match certificates.remove(&a) {
                    Some(_) => (200, json!({})),
                    None => not_found,
                },
                _ => not_found,
            };
            let response = HttpResponse::new(
                StatusCode::try_from(status).unwrap(),
                SdkBody::from(answer.to_string()),
            );
            HttpConnectorFuture::ready(Ok(response))
        }
    }

    fn acm(operation: &str, body: Value) -> HttpRequest {
        let mut request = HttpRequest::new(SdkBody::from(body.to_string()));
        request.set_method("POST").unwrap();
        request.set_uri("http://127.0.0.1:5000/").unwrap();
        request
            .headers_mut()
            .insert("x-amz-target", format!("CertificateManager.{operation}"));
        request.headers_mut().insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20261203/us-east-1/acm/aws4_request, SignedHeaders=host",
        );
        request
    }

    /// The status and `__type` of the answer `function` gets to `request`.
    async fn send(
        connector: &Connector,
        function: &'static str,
        request: HttpRequest,
    ) -> (u16, String) {
        let response = custom_domains::routes::scoped(function, async {
            connector.call(request).await.unwrap()
        })
        .await;
        let body: Value =
            serde_json::from_slice(response.body().bytes().unwrap_or_default()).unwrap_or_default();
        (
            response.status().as_u16(),
            body["__type"].as_str().unwrap_or_default().to_owned(),
        )
    }

    #[tokio::test]
    async fn certificates_are_changed_under_the_stacks_tag_which_a_reimport_keeps() {
        let stack = custom_domains::config::DEFAULT_STACK_NAME;
        let ours = "arn:aws:acm:us-east-1:123456789012:certificate/ours";
        let theirs = "arn:aws:acm:us-east-1:123456789012:certificate/theirs";
        let moto = Arc::new(Moto::default());
        moto.certificates.lock().unwrap().extend([
            (
                ours.to_owned(),
                [
                    (
                        "custom-domains:domain".to_owned(),
                        "x.example.com".to_owned(),
                    ),
                    ("custom-domains:stack".to_owned(), stack.to_owned()),
                ]
                .into(),
            ),
            (theirs.to_owned(), BTreeMap::new()),
        ]);
        let seen: Arc<Mutex<Vec<Need>>> = Arc::default();
        let seen_by = seen.clone();
        let connector = Connector {
            inner: SharedHttpConnector::new(MotoConnector(moto.clone())),
            policies: Arc::new(Policies::from_template(TEMPLATE, &|_| None).unwrap()),
            observer: Some(Arc::new(
                move |_f: &str, all: &[Need], _r: Option<&Need>| {
                    seen_by.lock().unwrap().extend_from_slice(all)
                },
            )),
        };
        let pem = json!({"Certificate": "TEVBRg==", "PrivateKey": "S0VZ"});

        // A renewal's re-import: IAM finds the stack's tag on the
        // certificate, and the certificate has it still afterwards.
        let mut reimport = pem.clone();
        reimport["CertificateArn"] = json!(ours);
        assert_eq!(
            send(
                &connector,
                "renew-certificate",
                acm("ImportCertificate", reimport)
            )
            .await,
            (200, String::new())
        );
        let evaluated = seen.lock().unwrap().pop().unwrap();
        assert_eq!(
            evaluated
                .context
                .get("aws:ResourceTag/custom-domains:stack"),
            Some(&vec![stack.to_owned()])
        );
        assert_eq!(
            moto.certificates.lock().unwrap()[ours]
                .get("custom-domains:stack")
                .map(String::as_str),
            Some(stack),
            "the re-import dropped the tag"
        );

        // A first import without the stack's tag in the request.
        assert_eq!(
            send(
                &connector,
                "complete-certificate",
                acm("ImportCertificate", pem.clone())
            )
            .await,
            (400, "AccessDeniedException".to_owned())
        );

        // A release deletes the certificate it made, never another's.
        let delete = |arn: &str| acm("DeleteCertificate", json!({ "CertificateArn": arn }));
        assert_eq!(
            send(&connector, "release-domain", delete(theirs)).await,
            (400, "AccessDeniedException".to_owned())
        );
        assert!(moto.certificates.lock().unwrap().contains_key(theirs));
        assert_eq!(
            send(&connector, "release-domain", delete(ours)).await,
            (200, String::new())
        );
        // Gone: IAM reads no tags of it, so a second deletion is refused.
        assert_eq!(
            send(&connector, "release-domain", delete(ours)).await,
            (400, "AccessDeniedException".to_owned())
        );
    }
}

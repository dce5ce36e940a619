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
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

use super::policy::{Decision, Policies};
use super::request::{needs, Need, Sent};

/// Wraps `inner`, checking every request a function makes against
/// `policies`.
#[derive(Clone, Debug)]
pub struct Enforcing {
    inner: SharedHttpClient,
    policies: Arc<Policies>,
}

impl Enforcing {
    pub fn new(inner: SharedHttpClient, policies: Policies) -> Self {
        Self {
            inner,
            policies: Arc::new(policies),
        }
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
        })
    }
}

#[derive(Debug)]
struct Connector {
    inner: SharedHttpConnector,
    policies: Arc<Policies>,
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

/// The first of a request's needs its function's policy does not allow.
pub fn refused(policies: &Policies, function: &str, sent: &Sent) -> Option<Need> {
    let all = match needs(sent) {
        Ok(all) => all,
        // A request this layer cannot read is refused, not waved through:
        // the gap is closed in `request.rs`.
        Err(unknown) => {
            return Some(Need {
                action: format!("unknown request: {unknown}"),
                resource: "*".to_owned(),
                context: Default::default(),
            })
        }
    };
    all.into_iter().find(|n| {
        policies.decide(function, &n.action, &n.resource, &n.context) != Decision::Allowed
    })
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let read = Read::of(&request);
        let sent = read.sent();
        if let Some(function) = custom_domains::routes::current_function() {
            if let Some(denied) = refused(&self.policies, function, &sent) {
                tracing::error!(
                    function,
                    action = %denied.action,
                    resource = %denied.resource,
                    "AccessDenied: the function's policy in template.yaml does not allow this request"
                );
                return HttpConnectorFuture::ready(Ok(access_denied(function, &denied)));
            }
        }
        let (service, _) = sent.scope();
        let flight = match crate::aws_rules::before(service, &sent) {
            Ok(flight) => flight,
            Err(r) => {
                tracing::warn!(code = r.code, message = %r.message, "refused as AWS would (aws_rules)");
                return HttpConnectorFuture::ready(Ok(answer_with(
                    service, r.status, r.code, &r.message, &r.fields,
                )));
            }
        };
        let sending = self.inner.call(request);
        HttpConnectorFuture::new(async move { Ok(flight.answer(sending.await?).await) })
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
    answer_with(service, status, code, message, &[])
}

/// [`answer`], with other members in a JSON body (`fields`).
pub fn answer_with(
    service: &str,
    status: u16,
    code: &str,
    message: &str,
    fields: &[(&'static str, String)],
) -> HttpResponse {
    let json = |mut v: serde_json::Value| {
        for (k, f) in fields {
            v[*k] = serde_json::Value::String(f.clone());
        }
        v.to_string()
    };
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
        "apigateway" => (
            "application/json",
            json(serde_json::json!({ "message": message })),
            Some(code),
        ),
        _ => (
            "application/x-amz-json-1.1",
            json(serde_json::json!({ "__type": code, "message": message })),
            None,
        ),
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

//! The SDK HTTP client that enforces the functions' policies: each request
//! a function makes is checked (`policy::Policies::decide`) before it is
//! sent; a denied one is never sent, and is answered as its service answers
//! an `AccessDenied`, so the product meets exactly what AWS would return.

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

/// The first of a request's needs its function's policy does not allow.
pub fn refused(policies: &Policies, function: &str, request: &HttpRequest) -> Option<Need> {
    let header = |name: &str| request.headers().get(name).unwrap_or_default();
    let body = request
        .body()
        .bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let sent = Sent::new(
        request.method(),
        request.uri(),
        header("authorization"),
        header("x-amz-target"),
        &body,
    );
    let all = match needs(&sent) {
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
        let Some(function) = custom_domains::routes::current_function() else {
            return self.inner.call(request);
        };
        let Some(denied) = refused(&self.policies, function, &request) else {
            return self.inner.call(request);
        };
        tracing::error!(
            function,
            action = %denied.action,
            resource = %denied.resource,
            "AccessDenied: the function's policy in template.yaml does not allow this request"
        );
        HttpConnectorFuture::ready(Ok(access_denied(function, &denied)))
    }
}

/// The answer AWS gives a request its caller's policy does not allow.
fn access_denied(function: &str, denied: &Need) -> HttpResponse {
    let message = format!(
        "User: arn:aws:sts::{}:assumed-role/{function}-role/{function} is not authorized to perform: {} on resource: {} because no identity-based policy allows the {} action",
        super::ACCOUNT, denied.action, denied.resource, denied.action
    );
    let service = denied.action.split(':').next().unwrap_or_default();
    let (status, content_type, body, error_type) = match service {
        // REST-XML services name it AccessDenied.
        "cloudfront" | "route53" => {
            let ns = match service {
                "cloudfront" => "http://cloudfront.amazonaws.com/doc/2020-05-31/",
                _ => "https://route53.amazonaws.com/doc/2013-04-01/",
            };
            (
                403,
                "text/xml",
                format!(
                    "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{ns}\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{message}</Message></Error><RequestId>local-iam</RequestId></ErrorResponse>"
                ),
                None,
            )
        }
        // REST-JSON (API Gateway): the type in a header.
        "apigateway" => (
            403,
            "application/json",
            serde_json::json!({ "message": message }).to_string(),
            Some("AccessDeniedException"),
        ),
        // JSON protocols (DynamoDB, ACM, KMS, EventBridge).
        _ => (
            400,
            "application/x-amz-json-1.1",
            serde_json::json!({ "__type": "AccessDeniedException", "message": message })
                .to_string(),
            None,
        ),
    };
    let mut response = HttpResponse::new(
        StatusCode::try_from(status).expect("a valid status"),
        SdkBody::from(body),
    );
    response.headers_mut().insert("content-type", content_type);
    response
        .headers_mut()
        .insert("x-amzn-requestid", "local-iam");
    if let Some(t) = error_type {
        response.headers_mut().insert("x-amzn-errortype", t);
    }
    response
}

//! Requests the local stack sends to the local AWS itself, beside the one a
//! function made: what IAM reads of a resource before deciding (a
//! certificate's tags, for `aws:ResourceTag`) and what a rule puts right in
//! the emulator (`aws_rules`). They go through the same connector as the
//! request they accompany, unchecked and unrecorded: AWS reads and keeps
//! these itself, no caller's policy is involved.
//!
//! Read from the local AWS on every request rather than kept here, so what
//! IAM sees is what moto holds, across a restart of the local server.

use std::future::Future;
use std::pin::Pin;

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;

/// A future a rule or IAM awaits beside a request.
pub type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A certificate's tags, `(key, value)` (no value reads as empty).
pub type Tags = Vec<(String, String)>;

/// Why a request of the local stack's own came to nothing.
#[derive(Debug)]
pub enum Failed {
    /// The local AWS could not be reached: neither can the request it
    /// accompanies, which fails the same way.
    Unreachable(ConnectorError),
    /// It answered something else than expected.
    Answer(String),
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(e) => write!(f, "unreachable: {e}"),
            Self::Answer(a) => f.write_str(a),
        }
    }
}

/// The local AWS, as the request being handled reached it.
#[derive(Clone, Debug)]
pub struct Direct {
    connector: SharedHttpConnector,
    uri: String,
    /// The accompanied request's, kept for its credential scope: moto takes
    /// the Region from it (and checks no signature).
    authorization: String,
}

impl Direct {
    pub fn new(connector: SharedHttpConnector, uri: &str, authorization: &str) -> Self {
        Self {
            connector,
            uri: uri.to_owned(),
            authorization: authorization.to_owned(),
        }
    }

    /// Sends `request` (the accompanied one) on.
    pub fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.connector.call(request)
    }

    /// One ACM (JSON 1.1) request: its status and body.
    async fn acm(&self, operation: &str, body: serde_json::Value) -> Result<(u16, String), Failed> {
        let unbuilt = |e: &dyn std::fmt::Display| Failed::Answer(e.to_string());
        let mut request = HttpRequest::new(SdkBody::from(body.to_string()));
        request.set_method("POST").map_err(|e| unbuilt(&e))?;
        request
            .set_uri(self.uri.as_str())
            .map_err(|e| unbuilt(&e))?;
        let headers = request.headers_mut();
        headers.insert("content-type", "application/x-amz-json-1.1");
        headers.insert("x-amz-target", format!("CertificateManager.{operation}"));
        headers.insert("authorization", self.authorization.clone());
        let mut response = self
            .connector
            .call(request)
            .await
            .map_err(Failed::Unreachable)?;
        let status = response.status().as_u16();
        let bytes = aws_smithy_types::byte_stream::ByteStream::new(response.take_body())
            .collect()
            .await
            .map_err(|e| unbuilt(&e))?
            .into_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// The tags of the certificate `arn`, as ACM's `ListTagsForCertificate`
    /// answers; `None` when there is no such certificate.
    pub async fn acm_tags(&self, arn: &str) -> Result<Option<Tags>, Failed> {
        let (status, body) = self
            .acm(
                "ListTagsForCertificate",
                serde_json::json!({ "CertificateArn": arn }),
            )
            .await?;
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        match status {
            200 => Ok(Some(tags_of(&answer["Tags"]))),
            _ if answer["__type"]
                .as_str()
                .is_some_and(|t| t.ends_with("ResourceNotFoundException")) =>
            {
                Ok(None)
            }
            _ => Err(Failed::Answer(format!(
                "ListTagsForCertificate answered {status}: {body}"
            ))),
        }
    }

    /// Adds `tags` to the certificate `arn` (`AddTagsToCertificate`).
    pub async fn acm_add_tags(&self, arn: &str, tags: &Tags) -> Result<(), Failed> {
        let tags: Vec<serde_json::Value> = tags
            .iter()
            .map(|(k, v)| serde_json::json!({ "Key": k, "Value": v }))
            .collect();
        let (status, body) = self
            .acm(
                "AddTagsToCertificate",
                serde_json::json!({ "CertificateArn": arn, "Tags": tags }),
            )
            .await?;
        match status {
            200 => Ok(()),
            _ => Err(Failed::Answer(format!(
                "AddTagsToCertificate answered {status}: {body}"
            ))),
        }
    }
}

/// ACM's `Tags` list (`[{"Key": …, "Value": …}]`) as pairs.
pub fn tags_of(list: &serde_json::Value) -> Tags {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t["Key"].as_str()?.to_owned(),
                t["Value"].as_str().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

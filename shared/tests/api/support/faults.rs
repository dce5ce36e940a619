//! Faults moto cannot produce: [`FaultProxy`], an HTTP proxy in front of the
//! local AWS that answers, loses or delays the requests a rule matches
//! ([`Fault`]), or reports changes to a tripwire.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::{stack, tripwire};

/// CloudFront's answer when another distribution already holds an alias.
pub const CNAME_ALREADY_EXISTS: &str =
    "<?xml version=\"1.0\"?><ErrorResponse><Error><Type>Sender</Type>\
    <Code>CNAMEAlreadyExists</Code><Message>One or more of the CNAMEs you provided \
    are already associated with a different resource.</Message></Error>\
    <RequestId>test</RequestId></ErrorResponse>";

/// What a [`FaultProxy`] does to a request it matches.
#[derive(Clone, Copy)]
pub enum Fault {
    /// Answer this instead of forwarding.
    Answer {
        status: u16,
        content_type: &'static str,
        body: &'static str,
    },
    /// Forward (so the change happens), then answer this status instead of
    /// the real answer: a lost response.
    ForwardThenFail { status: u16 },
    /// Wait this long, then forward: a slow call under way.
    Delay { millis: u64 },
    /// Wait while `held` answers true (at most 10 s), then forward: a call
    /// kept under way until the test lets it go.
    HoldWhile { held: fn() -> bool },
}

/// A fault proxy rule: ACM's ImportCertificate.
pub fn is_import(req: &hyper::http::request::Parts) -> bool {
    req.headers
        .get("x-amz-target")
        .is_some_and(|t| t == "CertificateManager.ImportCertificate")
}

/// An HTTP proxy in front of the local AWS that injects a fault into the
/// first requests matching a rule, for failures moto cannot produce.
pub struct FaultProxy {
    pub url: String,
    matched: Arc<AtomicU32>,
}

impl FaultProxy {
    /// Faults the first request matching `rule`.
    /// CloudFront refusing the first `times` distribution updates:
    /// another distribution holds one of the aliases (`CNAMEAlreadyExists`).
    pub async fn refusing_aliases(times: u32) -> FaultProxy {
        Self::start_n(
            |req| req.method == hyper::Method::PUT && req.uri.path().ends_with("/config"),
            Fault::Answer {
                status: 409,
                content_type: "text/xml",
                body: CNAME_ALREADY_EXISTS,
            },
            times,
        )
        .await
    }

    pub async fn start(rule: fn(&hyper::http::request::Parts) -> bool, fault: Fault) -> FaultProxy {
        Self::start_n(rule, fault, 1).await
    }

    /// Faults the first `times` requests matching `rule`.
    pub async fn start_n(
        rule: fn(&hyper::http::request::Parts) -> bool,
        fault: Fault,
        times: u32,
    ) -> FaultProxy {
        Self::start_with(rule, fault, times, None).await
    }

    /// Forwards everything, reporting each request that changes something
    /// to `tripwire` once answered (see `tripwire`).
    pub async fn tripwired(tripwire: Arc<tripwire::Tripwire>) -> FaultProxy {
        Self::start_with(|_| false, Fault::Delay { millis: 0 }, 0, Some(tripwire)).await
    }

    async fn start_with(
        rule: fn(&hyper::http::request::Parts) -> bool,
        fault: Fault,
        times: u32,
        tripwire: Option<Arc<tripwire::Tripwire>>,
    ) -> FaultProxy {
        // CloudFront's REST paths go to the stack's CloudFront (ministack),
        // everything else to moto.
        let upstream = stack().var("AWS_ENDPOINT_URL");
        let cloudfront_upstream = stack().var("AWS_ENDPOINT_URL_CLOUDFRONT");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let matched = Arc::new(AtomicU32::new(0));
        let counter = matched.clone();
        tokio::spawn(async move {
            let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (client, upstream, cloudfront_upstream, counter, tripwire) = (
                    client.clone(),
                    upstream.clone(),
                    cloudfront_upstream.clone(),
                    counter.clone(),
                    tripwire.clone(),
                );
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (client, counter, tripwire) =
                            (client.clone(), counter.clone(), tripwire.clone());
                        let upstream = if req.uri().path().starts_with("/2020-05-31/") {
                            cloudfront_upstream.clone()
                        } else {
                            upstream.clone()
                        };
                        async move {
                            let (mut parts, body) = req.into_parts();
                            let body = body.collect().await.unwrap().to_bytes();
                            let first =
                                rule(&parts) && counter.fetch_add(1, Ordering::SeqCst) < times;
                            if let (
                                true,
                                Fault::Answer {
                                    status,
                                    content_type,
                                    body,
                                },
                            ) = (first, fault)
                            {
                                return Ok::<_, hyper::Error>(
                                    hyper::Response::builder()
                                        .status(status)
                                        .header("content-type", content_type)
                                        .body(Full::new(Bytes::from(body)))
                                        .unwrap(),
                                );
                            }
                            if let (true, Fault::Delay { millis }) = (first, fault) {
                                tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
                            }
                            if let (true, Fault::HoldWhile { held }) = (first, fault) {
                                let until = tokio::time::Instant::now()
                                    + std::time::Duration::from_secs(10);
                                while held() && tokio::time::Instant::now() < until {
                                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                                }
                            }
                            let change = tripwire::aws_change(&parts);
                            parts.uri =
                                format!("{upstream}{}", parts.uri.path_and_query().unwrap())
                                    .parse()
                                    .unwrap();
                            let rsp = client
                                .request(hyper::Request::from_parts(parts, Full::new(body)))
                                .await
                                .unwrap();
                            let (parts, body) = rsp.into_parts();
                            let body = body.collect().await.unwrap().to_bytes();
                            if let (Some(t), Some(change)) = (&tripwire, change) {
                                if t.after_upstream(change) {
                                    return Ok(hyper::Response::builder()
                                        .status(502)
                                        .body(Full::new(Bytes::new()))
                                        .unwrap());
                                }
                            }
                            if let (true, Fault::ForwardThenFail { status }) = (first, fault) {
                                return Ok(hyper::Response::builder()
                                    .status(status)
                                    .header("content-type", "application/x-amz-json-1.1")
                                    .body(Full::new(Bytes::from(
                                        "{\"__type\":\"InternalFailure\"}",
                                    )))
                                    .unwrap());
                            }
                            Ok(hyper::Response::from_parts(parts, Full::new(body)))
                        }
                    },
                );
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy { url, matched }
    }

    /// How many requests matched the rule so far.
    pub fn matched(&self) -> u32 {
        self.matched.load(Ordering::SeqCst)
    }

    /// The count of requests that matched the rule, to watch from a task
    /// of its own.
    pub fn matched_counter(&self) -> Arc<AtomicU32> {
        self.matched.clone()
    }
}

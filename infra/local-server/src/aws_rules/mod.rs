//! Rules AWS applies that the local emulators skip, answered as AWS answers
//! them: quotas, throttles, delays and validation. Each rule names its
//! source. Applied by the same SDK HTTP client that enforces IAM
//! (`iam::client`) to every request a function makes, under `make dev` and
//! in `make test`; `LOCAL_AWS_STRICT=0` turns them off (IAM stays on).
//!
//! | rule | AWS's answer | source |
//! |---|---|---|
//! | a distribution tenant's `Name` matches `[a-zA-Z0-9][a-zA-Z0-9-.]{1,126}[a-zA-Z0-9]` (ministack takes any) | `400 InvalidArgument` | botocore's CloudFront model, `CreateDistributionTenantRequest.Name` |
//! | a CloudFront-managed certificate (`ManagedCertificateRequest` on `CreateDistributionTenant` / `UpdateDistributionTenant`, `ValidationTokenHost` `cloudfront`; ministack issues it at once, whatever DNS says) | `GetManagedCertificateDetails`' `CertificateStatus` `pending-validation` until the tenant's hostname is a CNAME to its connection group's routing endpoint in public DNS (the stack's resolver), then `issued` (kept); `validation-timed-out` 72 hours after the request without. `self-hosted` requests are not modelled (the token is the platform origin's to serve) | botocore's CloudFront model, `ManagedCertificateRequest.ValidationTokenHost` ("CloudFront hosts the validation token once the domain points to CloudFront"); the 72 hours: AWS publishes none for managed certificates, ACM's own ("Requests for ACM certificates time out if they are not validated within 72 hours", ACM User Guide, Troubleshooting) |
//! | ACM `ImportCertificate`: about 1 request a second per account and Region (moto takes any rate) | `400 ThrottlingException` | ACM's API rate quotas (docs.aws.amazon.com/acm/latest/userguide/acm-limits.html) |
//! | ACM's DNS validation of a requested certificate (moto asks for one fixed record, the same label under every name and one value for all, and issues `MOTO_ACM_VALIDATION_WAIT` seconds after the request whatever DNS holds) | `DescribeCertificate`'s `ResourceRecord`: one CNAME per account and name, the same for every certificate of the name, `_<32 hex>.<name>.` → `_<32 hex>.<10 letters>.acm-validations.aws.`; `Status` and each name's `ValidationStatus` `PENDING_VALIDATION` until that CNAME answers in public DNS (the stack's resolver, `RECURSIVE_RESOLVER`) and moto has issued too, then `ISSUED` / `SUCCESS`, kept when the record goes; `VALIDATION_TIMED_OUT` (each name `FAILED`) 72 hours after the request without it | ACM User Guide, "DNS validation" (docs.aws.amazon.com/acm/latest/userguide/dns-validation.html); the value without its leading underscore also counts: "Troubleshoot DNS validation problems"; the 72 hours: botocore's ACM model, `CertificateDetail.Status` ("ACM makes repeated attempts to validate a certificate for 72 hours and then times out") |
//! | ACM `ImportCertificate` with a `CertificateArn` (a re-import) and `Tags` is refused (moto adds the tags) | `400 ValidationException`, "Tagging is not permitted on re-import." | ACM User Guide, "Reimport a certificate" (docs.aws.amazon.com/acm/latest/userguide/import-reimport.html: "You cannot apply resource tags when reimporting a certificate"); ACM's answer as quoted in hashicorp/terraform-provider-aws#15055 |
//! | a re-imported certificate keeps its tags (moto drops them: its re-import stores a new certificate at the ARN); read before the re-import and added back once it succeeded, before the caller sees the answer | none: a repair of moto, on even with `LOCAL_AWS_STRICT=0`, since IAM's `aws:ResourceTag` conditions read the tags | ACM User Guide, "Reimport a certificate" (the certificate keeps its ARN and associations; tags cannot be given again); hashicorp/terraform-provider-aws#15060 stops sending tags on a re-import, leaving the certificate's as they are |
//! | DynamoDB `TransactWriteItems` touching an item (table and key) that another transaction in flight touches (moto serves one request at a time, so never sees two) | `400 TransactionCanceledException`, `CancellationReasons` one per action in order: `TransactionConflict` ("Transaction is ongoing for the item") for the items in conflict, `None` for the rest; a retry of the same transaction (same `ClientRequestToken`) does not conflict with itself | DynamoDB developer guide, "Transaction conflict handling in DynamoDB" (docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html); the reasons' codes and messages: botocore's DynamoDB model, `TransactWriteItems` documentation |
//! | DynamoDB `PutItem`, `UpdateItem`, `DeleteItem` on an item a transaction in flight touches | `400 TransactionConflictException` | same section of the developer guide; botocore's DynamoDB model, `TransactionConflictException` |
//! | a `Query` on a global secondary index answers a little behind the table: items put or updated in the last second are left out (moto's indexes are up to date at once); the table itself, read consistently, is never behind | the answer without them (`Count`, `ScannedCount`, `LastEvaluatedKey` to match) | "Write operations propagate to a GSI within 1 second" (AWS re:Post knowledge center, repost.aws/knowledge-center/dynamodb-missing-table-items-gsi); GSIs are eventually consistent, with no `ConsistentRead` (developer guide, "Read consistency") |
//!
//! Each service's rules are in its own file. A rule sees a request before
//! it is sent ([`before`]: it may refuse it, hold something while it is in
//! flight, or ask moto for more than the request did,
//! [`InFlight::send_instead`]), may act on the local AWS itself before it
//! is sent and after its answer ([`InFlight::before_sending`],
//! [`InFlight::after_answer`], through `crate::direct`) and, if it asked
//! to, sees the answer ([`InFlight::on_answer`]: it may read or rewrite it).
//!
//! Waits are real under `make dev`; `make test` scales them by
//! `LOCAL_AWS_TIME_SCALE` (0.01 there: one import per 10 ms, CloudFront's
//! 5-minute deploy in 3 s, an index 10 ms behind its table, ACM's 72 hours
//! of validation attempts in 43 minutes), so each rule
//! is on in every run without slowing the suite a hundredfold. The whole
//! process is one account: every application in it shares the rates, the
//! transactions in flight and the indexes' lag.

mod acm;
mod apigateway;
mod cloudfront;
pub mod dynamodb;
mod public_dns;

pub use public_dns::resolve_through;

use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;

use crate::direct::{Direct, Pending};
use crate::iam::request::Sent;

/// Whether the rules are on (`LOCAL_AWS_STRICT`, on unless `0`).
pub fn strict() -> bool {
    static STRICT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *STRICT.get_or_init(|| std::env::var("LOCAL_AWS_STRICT").map_or(true, |v| v != "0"))
}

/// The factor every modelled wait is scaled by (`LOCAL_AWS_TIME_SCALE`,
/// default 1: AWS's own figures).
pub fn scale() -> f64 {
    static SCALE: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *SCALE.get_or_init(|| {
        std::env::var("LOCAL_AWS_TIME_SCALE")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|v: &f64| *v > 0.0)
            .unwrap_or(1.0)
    })
}

/// AWS's figure `d`, scaled for this run.
pub fn scaled(d: Duration) -> Duration {
    d.mul_f64(scale())
}

/// Requests refused by a rule so far, by the code of the refusal (tests
/// read them).
static REFUSED: std::sync::Mutex<Vec<(&'static str, u64)>> = std::sync::Mutex::new(Vec::new());

fn count_refusal(code: &'static str) {
    let mut refused = REFUSED.lock().unwrap_or_else(|p| p.into_inner());
    match refused.iter_mut().find(|(c, _)| *c == code) {
        Some((_, n)) => *n += 1,
        None => refused.push((code, 1)),
    }
}

/// How many requests the rules have refused in this process so far.
pub fn refused_so_far() -> u64 {
    let refused = REFUSED.lock().unwrap_or_else(|p| p.into_inner());
    refused.iter().map(|(_, n)| n).sum()
}

/// How many requests the rules have refused with `code` (the AWS error
/// code, e.g. `TransactionCanceledException`) in this process so far.
pub fn refused_with(code: &str) -> u64 {
    let refused = REFUSED.lock().unwrap_or_else(|p| p.into_inner());
    refused
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(0, |(_, n)| *n)
}

/// How AWS refuses a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// Fields the service's error answer carries beside its code and
    /// message (DynamoDB's `CancellationReasons`), for JSON protocols.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl Refusal {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: serde_json::Map::new(),
        }
    }

    /// The refusal with `field` in its answer too.
    pub fn with(mut self, field: &str, value: serde_json::Value) -> Self {
        self.fields.insert(field.to_owned(), value);
        self
    }
}

/// Reads (and may rewrite) an answer: its status and body.
type AfterAnswer = Box<dyn FnOnce(u16, &mut String) + Send>;

/// Rewrites an answer after looking elsewhere first (public DNS, say):
/// given its status and body, the body the caller sees.
type RewriteAnswer = Box<dyn FnOnce(u16, String) -> Pending<String> + Send>;

/// A step taken beside the request with the local AWS at hand: before it is
/// sent, or once its answer (whose status it is given) is in.
type Beside = Box<dyn FnOnce(Direct) -> Pending<()> + Send>;
type BesideAnswer = Box<dyn FnOnce(u16, Direct) -> Pending<()> + Send>;

/// What the rules keep of a request while it is in flight.
#[derive(Default)]
pub struct InFlight {
    after: Vec<AfterAnswer>,
    rewrites: Vec<RewriteAnswer>,
    /// Held until the answer arrives, or the request is given up (dropped).
    held: Vec<Box<dyn Send>>,
    first: Vec<Beside>,
    then: Vec<BesideAnswer>,
    /// The body sent in the request's place, if a rule needs more of the
    /// answer than the request asked for.
    instead: Option<String>,
    /// The request's idempotency token (DynamoDB's `ClientRequestToken`):
    /// requests that carry the same one get the first one's answer.
    idempotent: Option<String>,
}

impl InFlight {
    /// Sends `body` instead of the request's own (same operation): for a
    /// rule that must see more of the answer than was asked (the items
    /// behind a `Select: COUNT`), and gives the caller what it asked for by
    /// rewriting the answer ([`InFlight::on_answer`]).
    pub fn send_instead(&mut self, body: String) {
        self.instead = Some(body);
    }

    /// Answers every request carrying `token` as the first one was
    /// answered (within [`IDEMPOTENCY_WINDOW`]), as DynamoDB answers a
    /// transaction sent again with its `ClientRequestToken`; moto ignores
    /// the token, so the SDK's resend of a slow transaction would fail its
    /// own conditions there.
    pub fn idempotent(&mut self, token: String) {
        self.idempotent = Some(token);
    }

    /// The body a rule asked to send instead (tests read it).
    #[cfg(test)]
    pub fn body_instead(&mut self) -> Option<String> {
        self.instead.take()
    }

    /// Calls `f` with the answer's status and body, which it may rewrite.
    pub fn on_answer(&mut self, f: impl FnOnce(u16, &mut String) + Send + 'static) {
        self.after.push(Box::new(f));
    }

    /// Has `f` rewrite the answer once it is in (after the
    /// [`InFlight::on_answer`] steps), for a rule that must wait on
    /// something else to decide (what public DNS answers): `f` is given the
    /// status and body, and gives the body back.
    pub fn rewrite_answer(
        &mut self,
        f: impl FnOnce(u16, String) -> Pending<String> + Send + 'static,
    ) {
        self.rewrites.push(Box::new(f));
    }

    /// Keeps `guard` until the answer arrives.
    pub fn hold(&mut self, guard: impl Send + 'static) {
        self.held.push(Box::new(guard));
    }

    /// Runs `f` against the local AWS before the request is sent (to read
    /// what the request will change, say).
    pub fn before_sending(&mut self, f: impl FnOnce(Direct) -> Pending<()> + Send + 'static) {
        self.first.push(Box::new(f));
    }

    /// Runs `f` against the local AWS once the answer is in, before the
    /// caller sees it (to put right what the emulator got wrong, say).
    pub fn after_answer(&mut self, f: impl FnOnce(u16, Direct) -> Pending<()> + Send + 'static) {
        self.then.push(Box::new(f));
    }

    /// Sends `request` through `direct`'s connector, the rules' steps
    /// around it: the answer as the rules leave it.
    pub async fn send(
        self,
        mut request: HttpRequest,
        direct: &Direct,
    ) -> Result<HttpResponse, ConnectorError> {
        let Self {
            after,
            rewrites,
            held,
            first,
            then,
            instead,
            idempotent,
        } = self;
        if let Some(body) = instead {
            request
                .headers_mut()
                .insert("content-length", body.len().to_string());
            *request.body_mut() = SdkBody::from(body);
        }
        for f in first {
            f(direct.clone()).await;
        }
        let mut response = match idempotent {
            Some(token) => once_per_token(token, request, direct).await?,
            None => direct.call(request).await?,
        };
        let status = response.status().as_u16();
        if !after.is_empty() || !rewrites.is_empty() {
            response = rewritten(response, after, rewrites).await;
        }
        for f in then {
            f(status, direct.clone()).await;
        }
        drop(held);
        Ok(response)
    }
}

/// How long DynamoDB answers a transaction's `ClientRequestToken` with the
/// first answer ("idempotent for 10 minutes", developer guide,
/// TransactWriteItems).
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(600);

/// One answer: status, content type, body.
type Kept = Result<(u16, String, Vec<u8>), String>;

/// Each token's answer, or the wait for it, and when it was first sent.
type Answer = (
    String,
    std::time::Instant,
    tokio::sync::watch::Receiver<Option<Kept>>,
);
static ANSWERS: std::sync::Mutex<Vec<Answer>> = std::sync::Mutex::new(Vec::new());

/// The answer of the first request carrying `token`: sent on its own task,
/// so an attempt the SDK gives up on (its attempt timeout) still records
/// what the local AWS answered for the next attempt to get.
async fn once_per_token(
    token: String,
    request: HttpRequest,
    direct: &Direct,
) -> Result<HttpResponse, ConnectorError> {
    let mut waiting = {
        let mut answers = ANSWERS.lock().unwrap_or_else(|p| p.into_inner());
        answers.retain(|(_, at, _)| at.elapsed() < IDEMPOTENCY_WINDOW);
        match answers.iter().find(|(t, _, _)| *t == token) {
            Some((_, _, rx)) => rx.clone(),
            None => {
                let (tx, rx) = tokio::sync::watch::channel(None);
                answers.push((token, std::time::Instant::now(), rx.clone()));
                let sending = direct.call(request);
                tokio::spawn(async move {
                    let kept: Kept = match sending.await {
                        Ok(mut response) => {
                            let status = response.status().as_u16();
                            let content_type = response
                                .headers()
                                .get("content-type")
                                .unwrap_or("application/x-amz-json-1.0")
                                .to_owned();
                            match aws_smithy_types::byte_stream::ByteStream::new(
                                response.take_body(),
                            )
                            .collect()
                            .await
                            {
                                Ok(b) => Ok((status, content_type, b.into_bytes().to_vec())),
                                Err(e) => Err(e.to_string()),
                            }
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    let _ = tx.send(Some(kept));
                });
                rx
            }
        }
    };
    let kept = match waiting.wait_for(Option::is_some).await {
        Ok(kept) => kept.clone().unwrap_or_else(|| Err("no answer".to_owned())),
        Err(_) => Err("the first request with this token was lost".to_owned()),
    };
    match kept {
        Ok((status, content_type, body)) => {
            let mut response = HttpResponse::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(status)
                    .map_err(|e| ConnectorError::other(Box::new(e), None))?,
                SdkBody::from(body),
            );
            response.headers_mut().insert("content-type", content_type);
            Ok(response)
        }
        Err(e) => Err(ConnectorError::io(e.into())),
    }
}

/// `response` with its body as `after`, then `rewrites`, leave it.
async fn rewritten(
    mut response: HttpResponse,
    after: Vec<AfterAnswer>,
    rewrites: Vec<RewriteAnswer>,
) -> HttpResponse {
    let body = response.take_body();
    let bytes = match aws_smithy_types::byte_stream::ByteStream::new(body)
        .collect()
        .await
    {
        Ok(b) => b.into_bytes(),
        Err(e) => {
            tracing::warn!(error = %e, "aws_rules: could not read an answer");
            return response;
        }
    };
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    let status = response.status().as_u16();
    for f in after {
        f(status, &mut text);
    }
    for f in rewrites {
        text = f(status, text).await;
    }
    if response.headers().contains_key("content-length") {
        response
            .headers_mut()
            .insert("content-length", text.len().to_string());
    }
    *response.body_mut() = SdkBody::from(text);
    response
}

/// Applies the rules to `sent`, a request to `service`: the refusal AWS
/// would answer, or what to keep while it is in flight.
pub fn before(service: &str, sent: &Sent) -> Result<InFlight, Refusal> {
    let mut flight = InFlight::default();
    // Repairs of the emulator, on whatever `LOCAL_AWS_STRICT` says: IAM's
    // tag conditions read what they keep.
    if service == "acm" {
        acm::keep_tags_on_reimport(sent, &mut flight);
    }
    if !strict() {
        return Ok(flight);
    }
    let checked = match service {
        "acm" => acm::before(sent, &mut flight),
        "cloudfront" => cloudfront::before(sent, &mut flight),
        "apigateway" => apigateway::before(sent, &mut flight),
        "dynamodb" => dynamodb::before(sent, &mut flight),
        _ => Ok(()),
    };
    match checked {
        Ok(()) => Ok(flight),
        Err(r) => {
            count_refusal(r.code);
            Err(r)
        }
    }
}

/// The `<tag>` text of an XML body, the first one.
pub(crate) fn xml_text<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    body.split(open.as_str())
        .nth(1)
        .and_then(|rest| rest.split(close.as_str()).next())
}

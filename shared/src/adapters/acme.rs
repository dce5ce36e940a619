//! The ACME server, through instant-acme: the only module where its types
//! appear. The flows see [`AcmeClient`]'s operations and this module's plain
//! types ([`OrderView`], [`OrderStatus`], [`RenewalWindow`]).
//!
//! **The account** belongs here: [`AcmeClient`] loads it on first use from
//! DynamoDB (KMS-sealed), registers one when there is none, caches it for the
//! container's life, and registers anew when the CA answers
//! `accountDoesNotExist` (a restarted test CA, a deactivated account),
//! recognised by the problem type.
//!
//! The HTTP client is our own: it trusts the public web roots plus, when
//! `ACME_CA_BUNDLE` is set, one extra root (a local Pebble's), for ACME
//! traffic only, and it sets TCP_NODELAY, which instant-acme's default client
//! does not (without it every POST stalls for a delayed ACK, ~40 ms each).
//!
//! Every call goes through [`with_nonce_retry_raw`]: instant-acme retries a
//! `badNonce` a few times itself; we repeat the whole step on top, since a CA
//! under load can reject several nonces in a row. A CA that is unavailable
//! (503, or a connection that fails) is asked again a few times, with
//! backoff and jitter, honouring a short `Retry-After`.
//!
//! **`Retry-After`**: instant-acme drops response headers on errors, so the
//! HTTP client records the CA's `Retry-After` on a 429 or 503 answer in a
//! task-local slot ([`CA_RETRY_AFTER`]) that [`AcmeClient::with_account`]
//! opens around each operation: a CA's `rateLimited` reaches the caller as
//! `429 acme_rate_limited` with the CA's own `retry_after`.

use std::sync::Arc;
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, CertificateIdentifier,
    ChallengeType, HttpClient, Identifier, NewAccount, NewOrder, Order, RevocationReason,
    RevocationRequest,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio::sync::RwLock;
use tokio::time::Instant;

use crate::adapters::kms::Sealer;
use crate::adapters::store::Store;
use crate::domain::certificate::split_chain;
use crate::domain::{ChallengeRecord, DomainName, Timestamp};
use crate::error::Code;
use crate::error::{Error, Service};

const BAD_NONCE: &str = "urn:ietf:params:acme:error:badNonce";
/// Tries of one step while the CA is unavailable (503, connection errors).
const UNAVAILABLE_ATTEMPTS: usize = 3;
/// The longest `Retry-After` waited out within a call.
const MOST_WAITED: Duration = Duration::from_secs(2);

tokio::task_local! {
    /// The `Retry-After` of the CA's last 429 or 503 in this operation.
    static CA_RETRY_AFTER: std::cell::Cell<Option<Duration>>;
    /// When the call making these CA requests must be done ([`within`]).
    static CALL_DEADLINE: Instant;
}

/// How long a CA request made outside any call's budget may take (a
/// caller that set none): no CA request waits for ever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What a CA request still unanswered at its call's deadline fails with.
const CA_TOO_SLOW: &str = "the certificate authority did not answer within the call's time budget";

/// Runs `work` with every CA request it makes cut off at `deadline`: a slow
/// CA never holds a call past it (the request fails as unavailable, the
/// progress saved so far stays, and the next call goes on from there).
pub async fn within<F: std::future::Future>(deadline: Instant, work: F) -> F::Output {
    CALL_DEADLINE.scope(deadline, work).await
}

/// Reads a `Retry-After` (seconds, or an HTTP date) off a response.
fn retry_after(headers: &hyper::http::HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let secs = (at - time::OffsetDateTime::now_utc()).whole_seconds();
    Some(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
}

/// The HTTP client instant-acme is given: the real one, and on a 429 or
/// 503 the CA's `Retry-After`, kept where the caller can read it.
struct ReadsRetryAfter(Box<dyn HttpClient>);

impl HttpClient for ReadsRetryAfter {
    fn request(
        &self,
        req: hyper::Request<BodyWrapper<bytes::Bytes>>,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<instant_acme::BytesResponse, instant_acme::Error>,
                > + Send,
        >,
    > {
        let sent = self.0.request(req);
        let at = CALL_DEADLINE
            .try_with(|d| *d)
            .unwrap_or_else(|_| Instant::now() + REQUEST_TIMEOUT);
        Box::pin(async move {
            // The body is read within the deadline too: a CA that sends its
            // headers and then stalls holds no call.
            let too_slow = |_| instant_acme::Error::Str(CA_TOO_SLOW);
            let mut rsp = tokio::time::timeout_at(at, sent)
                .await
                .map_err(too_slow)??;
            let body = tokio::time::timeout_at(at, rsp.body.into_bytes())
                .await
                .map_err(too_slow)?
                .map_err(instant_acme::Error::Other)?;
            let rsp = instant_acme::BytesResponse {
                parts: rsp.parts,
                body: Box::new(body),
            };
            if matches!(rsp.parts.status.as_u16(), 429 | 503) {
                if let Some(wait) = retry_after(&rsp.parts.headers) {
                    let _ = CA_RETRY_AFTER.try_with(|slot| slot.set(Some(wait)));
                }
            }
            Ok(rsp)
        })
    }
}

/// The CA's `Retry-After` recorded in this operation, if any.
fn recorded_retry_after() -> Option<Duration> {
    CA_RETRY_AFTER.try_with(|slot| slot.get()).ok().flatten()
}
const ACCOUNT_GONE: &str = "urn:ietf:params:acme:error:accountDoesNotExist";
const ALREADY_REPLACED: &str = "urn:ietf:params:acme:error:alreadyReplaced";
const NONCE_ATTEMPTS: usize = 5;
/// The KMS encryption-context purpose of the sealed account credentials.
const ACCOUNT_PURPOSE: &str = "acme-account";

/// An order's status at the CA (RFC 8555 §7.1.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    Pending,
    Ready,
    Processing,
    Valid,
    Invalid,
}

impl From<instant_acme::OrderStatus> for OrderStatus {
    fn from(s: instant_acme::OrderStatus) -> Self {
        match s {
            instant_acme::OrderStatus::Pending => OrderStatus::Pending,
            instant_acme::OrderStatus::Ready => OrderStatus::Ready,
            instant_acme::OrderStatus::Processing => OrderStatus::Processing,
            instant_acme::OrderStatus::Valid => OrderStatus::Valid,
            instant_acme::OrderStatus::Invalid => OrderStatus::Invalid,
        }
    }
}

/// The ACME server's view of an order, as far as this product needs it.
#[derive(Clone, Debug)]
pub struct OrderView {
    pub url: String,
    pub finalize_url: String,
    pub status: OrderStatus,
    /// The DNS-01 challenge of the order's first name.
    pub challenge: ChallengeRecord,
    /// Whether that authorization is already valid (reused by the CA).
    pub authorized: bool,
    /// Every name's authorization (the first name's too), in the CA's order.
    pub authorizations: Vec<AuthorizationView>,
    /// The CA's explanation when the order is invalid.
    pub problem: Option<String>,
    /// The ARI identifier of the certificate this order replaces, when the
    /// CA accepted one.
    pub replaces: Option<String>,
    /// The ACME profile the CA says the order is for, when it names one.
    pub profile: Option<String>,
}

/// One name's authorization in an order.
#[derive(Clone, Debug)]
pub struct AuthorizationView {
    pub domain: DomainName,
    pub challenge: ChallengeRecord,
    /// Already valid (reused by the CA): no validation needed for it.
    pub authorized: bool,
}

/// The CA's suggested renewal window for a certificate (RFC 9773), and when
/// to ask again.
#[derive(Clone, Debug)]
pub struct RenewalWindow {
    pub start: Timestamp,
    pub end: Timestamp,
    pub retry_after: Duration,
    pub explanation_url: Option<String>,
}

type MakeHttp = Arc<dyn Fn() -> Box<dyn HttpClient> + Send + Sync>;

/// The ACME server and the product's one account on it.
pub struct AcmeClient {
    pub directory_url: String,
    contact: Option<String>,
    http: MakeHttp,
    store: Store,
    sealer: Sealer,
    /// The account, loaded on first use, with the sealed credentials it came
    /// from (to replace exactly those if the CA has forgotten the account).
    account: RwLock<Option<(Account, String)>>,
}

impl std::fmt::Debug for AcmeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcmeClient")
            .field("directory_url", &self.directory_url)
            .finish()
    }
}

impl AcmeClient {
    /// Builds the client; reads the extra root file but does no network I/O.
    pub fn new(
        directory_url: String,
        contact_email: Option<String>,
        ca_bundle: Option<&str>,
        store: Store,
        sealer: Sealer,
    ) -> Result<Self, Error> {
        Ok(Self {
            directory_url,
            contact: contact_email,
            http: http_client(ca_bundle)?,
            store,
            sealer,
            account: RwLock::new(None),
        })
    }

    /// Places a new order for one hostname. With `replaces` (the ARI
    /// identifier of the certificate being renewed) the order says which
    /// certificate it replaces, where the CA offers ARI; a CA without ARI, or
    /// one answering `alreadyReplaced`, gets the order without it.
    /// Places an order for `names` (the first is the order's own hostname,
    /// whose challenge the view carries in front).
    pub async fn new_order(
        &self,
        names: &[DomainName],
        replaces: Option<&str>,
        profile: Option<&str>,
    ) -> Result<OrderView, Error> {
        let domain = names
            .first()
            .ok_or_else(|| Error::Internal("an order for no name".into()))?;
        let identifiers: Vec<Identifier> = names
            .iter()
            .map(|n| Identifier::Dns(n.to_string()))
            .collect();
        let replaces_id = replaces.and_then(parse_certificate_id);
        let (url, replaced) = self
            .with_account(|account| {
                let (identifiers, replaces_id) = (&identifiers, replaces_id.clone());
                async move {
                    let account = &account;
                    // The profile asked for (`ACME_PROFILE`, or the renewed
                    // certificate's own); a CA without profiles is refused
                    // by instant-acme before anything is sent.
                    if let Some(id) = replaces_id {
                        let order = with_profile(NewOrder::new(identifiers.as_slice()).replaces(id), profile);
                        match with_nonce_retry_raw(|| account.new_order(&order)).await {
                            Ok(mut o) => {
                                let replaced = o.state().replaces.as_ref().map(|r| r.to_string());
                                return Ok((o.url().to_owned(), replaced));
                            }
                            Err(instant_acme::Error::Unsupported(_)) => {}
                            Err(instant_acme::Error::Api(p))
                                if p.r#type.as_deref() == Some(ALREADY_REPLACED) =>
                            {
                                tracing::info!(%domain, "the CA says the certificate was already replaced; ordering without `replaces`");
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    let order = with_profile(NewOrder::new(identifiers.as_slice()), profile);
                    with_nonce_retry_raw(|| account.new_order(&order))
                        .await
                        .map(|o| (o.url().to_owned(), None))
                }
            })
            .await?;
        // Read back (rather than retrying the order itself, which would place
        // a second one) so that reading its authorization is retried too.
        let mut view = self.read_order(&url, domain).await?.ok_or_else(|| {
            Error::upstream(Service::Acme, "the new order could not be read back")
        })?;
        view.replaces = view.replaces.or(replaced);
        Ok(view)
    }

    /// Reads an existing order; `None` when the CA no longer has it.
    pub async fn read_order(
        &self,
        url: &str,
        domain: &DomainName,
    ) -> Result<Option<OrderView>, Error> {
        let result = self
            .with_account(|account| async move {
                let account = &account;
                let read = with_nonce_retry_raw(|| async {
                    let mut order = account.order(url.to_owned()).await?;
                    view(&mut order, domain).await
                })
                .await;
                match read {
                    Ok(v) => Ok(Some(v)),
                    Err(instant_acme::Error::Api(p)) if p.status == Some(404) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?;
        Ok(result)
    }

    /// The status of an existing order (its authorizations unread: one
    /// deactivated may offer no challenge); `None` when the CA no longer
    /// has it.
    pub async fn order_status(&self, url: &str) -> Result<Option<OrderStatus>, Error> {
        self.with_account(|account| async move {
            let account = &account;
            let read = with_nonce_retry_raw(|| async {
                let mut order = account.order(url.to_owned()).await?;
                Ok(OrderStatus::from(order.state().status))
            })
            .await;
            match read {
                Ok(status) => Ok(Some(status)),
                Err(instant_acme::Error::Api(p)) if p.status == Some(404) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Tells the CA the TXT record is in place.
    pub async fn answer_challenge(&self, order_url: &str) -> Result<(), Error> {
        self.with_account(|account| async move {
            let account = &account;
            with_nonce_retry_raw(|| async {
                let mut order = account.order(order_url.to_owned()).await?;
                let mut authorizations = order.authorizations();
                while let Some(authz) = authorizations.next().await {
                    let mut authz = authz?;
                    if authz.status != AuthorizationStatus::Pending {
                        continue;
                    }
                    if let Some(mut ch) = authz.challenge(ChallengeType::Dns01) {
                        ch.set_ready().await?;
                    }
                }
                Ok(())
            })
            .await
        })
        .await
    }

    /// Polls the order until it leaves `pending`/`processing` or `deadline`
    /// passes; answers the last status seen and the CA's problem text, if any.
    pub async fn poll_order(
        &self,
        order_url: &str,
        interval: Duration,
        deadline: Instant,
    ) -> Result<(OrderStatus, Option<String>), Error> {
        self.with_account(|account| async move {
            let account = &account;
            let mut delay = interval;
            loop {
                let mut order =
                    with_nonce_retry_raw(|| account.order(order_url.to_owned())).await?;
                let state = order.state();
                let status = OrderStatus::from(state.status);
                let settled = !matches!(status, OrderStatus::Pending | OrderStatus::Processing);
                let result = (status, state.error.as_ref().map(|p| p.to_string()));
                if settled || Instant::now() + delay >= deadline {
                    return Ok(result);
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        })
        .await
    }

    /// Sends the CSR to the order's finalize URL (if the order is still ready).
    pub async fn finalize(&self, order_url: &str, csr_der: &[u8]) -> Result<(), Error> {
        self.with_account(|account| async move {
            let account = &account;
            with_nonce_retry_raw(|| async {
                let mut order = account.order(order_url.to_owned()).await?;
                if order.state().status == instant_acme::OrderStatus::Ready {
                    order.finalize_csr(csr_der).await?;
                }
                Ok(())
            })
            .await
        })
        .await
    }

    /// Downloads the certificate chain of a valid order (None while processing).
    pub async fn download_certificate(&self, order_url: &str) -> Result<Option<String>, Error> {
        self.with_account(|account| async move {
            let account = &account;
            with_nonce_retry_raw(|| async {
                let mut order = account.order(order_url.to_owned()).await?;
                order.certificate().await
            })
            .await
        })
        .await
    }

    /// Deactivates the valid or pending authorizations of the order at
    /// `order_url` (of `only` that name, when given), so the CA does not
    /// reuse them for the account's next order of the name (one account
    /// serves every tenant). An order the CA no longer has has nothing to
    /// deactivate.
    pub async fn deactivate_authorizations(
        &self,
        order_url: &str,
        only: Option<&DomainName>,
    ) -> Result<(), Error> {
        self.with_account(|account| async move {
            let account = &account;
            let result = with_nonce_retry_raw(|| async {
                let mut order = account.order(order_url.to_owned()).await?;
                let mut authorizations = order.authorizations();
                while let Some(authz) = authorizations.next().await {
                    let mut authz = authz?;
                    let named = match authz.identifier().identifier {
                        Identifier::Dns(name) => only.is_none_or(|o| o.as_str() == name),
                        _ => false,
                    };
                    if named
                        && matches!(
                            authz.status,
                            AuthorizationStatus::Pending | AuthorizationStatus::Valid
                        )
                    {
                        authz.deactivate().await?;
                    }
                }
                Ok(())
            })
            .await;
            match result {
                Err(instant_acme::Error::Api(p)) if p.status == Some(404) => Ok(()),
                other => other,
            }
        })
        .await
    }

    /// Revokes the leaf of `chain_pem` with reason `cessationOfOperation`.
    pub async fn revoke(&self, chain_pem: &str) -> Result<(), Error> {
        let leaf = split_chain(chain_pem)?.leaf_pem;
        let der = CertificateDer::from_pem_slice(leaf.as_bytes())
            .map_err(|e| Error::Internal(format!("stored certificate does not parse: {e}")))?;
        self.with_account(|account| {
            let der = der.clone();
            async move {
                let request = RevocationRequest {
                    certificate: &der,
                    reason: Some(RevocationReason::CessationOfOperation),
                };
                with_nonce_retry_raw(|| account.revoke(&request)).await
            }
        })
        .await
    }

    /// The CA's suggested renewal window for the leaf of `chain_pem`; `None`
    /// when the CA offers no ARI, or the certificate cannot be identified
    /// (no Authority Key Identifier).
    pub async fn renewal_window(&self, chain_pem: &str) -> Result<Option<RenewalWindow>, Error> {
        let Some(id) = certificate_id(chain_pem) else {
            return Ok(None);
        };
        let Some(id) = parse_certificate_id(&id) else {
            return Ok(None);
        };
        self.with_account(|account| {
            let id = id.clone();
            async move {
                match account.renewal_info(&id).await {
                    Ok((info, retry_after)) => Ok(Some(RenewalWindow {
                        start: Timestamp::from_offset(info.suggested_window.start),
                        end: Timestamp::from_offset(info.suggested_window.end),
                        retry_after,
                        explanation_url: info.explanation_url,
                    })),
                    Err(instant_acme::Error::Unsupported(_)) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        })
        .await
    }

    /// Runs `step` with the account; if the CA no longer knows the account,
    /// registers a new one, replaces the stored credentials and runs `step`
    /// once more. Errors leave mapped to [`Error`].
    async fn with_account<T, F, Fut>(&self, mut step: F) -> Result<T, Error>
    where
        F: FnMut(Account) -> Fut,
        Fut: std::future::Future<Output = Result<T, instant_acme::Error>>,
    {
        let work = async move {
            let (account, sealed) = self.current().await?;
            // Boxed: instant-acme's futures are large, and are not copied
            // up the stack.
            match Box::pin(step(account)).await {
                Err(instant_acme::Error::Api(p)) if account_unusable(&p) => {
                    tracing::warn!(
                        problem = %p,
                        "the ACME server no longer knows the stored account, or deactivated it; registering a new one"
                    );
                    let (fresh, fresh_sealed) =
                        Box::pin(self.load_or_register(Some(&sealed))).await?;
                    *self.account.write().await = Some((fresh.clone(), fresh_sealed));
                    Box::pin(step(fresh)).await.map_err(map_error)
                }
                other => other.map_err(map_error),
            }
        };
        CA_RETRY_AFTER
            .scope(std::cell::Cell::new(None), Box::pin(work))
            .await
    }

    async fn current(&self) -> Result<(Account, String), Error> {
        if let Some(found) = self.account.read().await.clone() {
            return Ok(found);
        }
        let mut slot = self.account.write().await;
        if let Some(found) = slot.clone() {
            return Ok(found);
        }
        let loaded = self.load_or_register(None).await?;
        *slot = Some(loaded.clone());
        Ok(loaded)
    }

    /// Connects with the stored credentials, or registers when there are
    /// none (or only the `stale` ones). Two containers racing to register
    /// both succeed at the CA, but only one account is stored and used.
    async fn load_or_register(&self, stale: Option<&str>) -> Result<(Account, String), Error> {
        let directory = &self.directory_url;
        for _ in 0..3 {
            let stored = self.store.load_account(directory).await?;
            if let Some(sealed) = stored.as_deref().filter(|s| Some(*s) != stale) {
                let json = self.sealer.open(ACCOUNT_PURPOSE, directory, sealed).await?;
                return Ok((self.connect(&json).await?, sealed.to_owned()));
            }
            let (account, json) = self.register().await?;
            let sealed = self.sealer.seal(ACCOUNT_PURPOSE, directory, &json).await?;
            if self
                .store
                .store_account(directory, &sealed, stored.as_deref())
                .await?
            {
                tracing::info!(account_id = account.id(), "registered an ACME account");
                return Ok((account, sealed));
            }
        }
        Err(Error::Internal(
            "could not settle on one ACME account".into(),
        ))
    }

    /// Restores an account from stored credentials (fetches the directory).
    async fn connect(&self, credentials_json: &[u8]) -> Result<Account, Error> {
        let credentials: AccountCredentials = serde_json::from_slice(credentials_json)
            .map_err(|e| Error::Internal(format!("stored ACME credentials do not parse: {e}")))?;
        Account::builder_with_http((self.http)())
            .from_credentials(credentials)
            .await
            .map_err(map_error)
    }

    /// Registers a new account; answers it and its credentials as JSON.
    async fn register(&self) -> Result<(Account, Vec<u8>), Error> {
        let contact = self.contact.as_ref().map(|c| format!("mailto:{c}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let (account, credentials) = with_nonce_retry_raw(|| async {
            Account::builder_with_http((self.http)())
                .create(
                    &NewAccount {
                        contact: &contacts,
                        terms_of_service_agreed: true,
                        only_return_existing: false,
                    },
                    self.directory_url.clone(),
                    None,
                )
                .await
        })
        .await
        .map_err(map_error)?;
        let json = serde_json::to_vec(&credentials).map_err(|e| Error::Internal(e.to_string()))?;
        Ok((account, json))
    }
}

/// The ARI certificate identifier (RFC 9773 §4.1: base64url AKI keyIdentifier
/// `.` base64url serial) of the leaf of `chain_pem`, if it has an AKI.
pub fn certificate_id(chain_pem: &str) -> Option<String> {
    let leaf = split_chain(chain_pem).ok()?.leaf_pem;
    let der = CertificateDer::from_pem_slice(leaf.as_bytes()).ok()?;
    CertificateIdentifier::try_from(&der)
        .ok()
        .map(|id| id.to_string())
}

fn parse_certificate_id(id: &str) -> Option<CertificateIdentifier<'static>> {
    let quoted = serde_json::to_string(id).ok()?;
    serde_json::from_str::<CertificateIdentifier<'_>>(&quoted)
        .ok()
        .map(CertificateIdentifier::into_owned)
}

fn http_client(ca_bundle: Option<&str>) -> Result<MakeHttp, Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_bundle {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| Error::Internal(format!("ACME_CA_BUNDLE {path}: {e}")))?;
        for cert in certs {
            let cert = cert.map_err(|e| Error::Internal(format!("ACME_CA_BUNDLE {path}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Error::Internal(format!("ACME_CA_BUNDLE {path}: {e}")))?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Internal(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(move || -> Box<dyn HttpClient> {
        let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(Duration::from_secs(5)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_only()
            .enable_http1()
            .wrap_connector(tcp);
        Box::new(ReadsRetryAfter(Box::new(
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build::<_, BodyWrapper<bytes::Bytes>>(https),
        )))
    }))
}

/// The order as this product needs it; `domain` is the order's own
/// hostname, whose challenge goes in front.
/// `order` asking for `profile`, if one is given.
fn with_profile<'a>(order: NewOrder<'a>, profile: Option<&'a str>) -> NewOrder<'a> {
    match profile {
        Some(p) => order.profile(p),
        None => order,
    }
}

async fn view(order: &mut Order, domain: &DomainName) -> Result<OrderView, instant_acme::Error> {
    let state = order.state();
    let status = OrderStatus::from(state.status);
    let finalize_url = state.finalize.clone();
    let problem = state.error.as_ref().map(|p| p.to_string());
    let replaces = state.replaces.as_ref().map(|r| r.to_string());
    let profile = state.profile.clone();
    let mut seen = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz?;
        let name = match authz.identifier().identifier {
            Identifier::Dns(name) => DomainName::parse(name)
                .map_err(|_| instant_acme::Error::Str("the CA named an invalid DNS identifier"))?,
            _ => continue,
        };
        let authorized = authz.status == AuthorizationStatus::Valid;
        let authorization_url = authz.url().to_owned();
        let ch = authz
            .challenge(ChallengeType::Dns01)
            .ok_or(instant_acme::Error::Str(
                "the CA offered no dns-01 challenge for a name",
            ))?;
        seen.push(AuthorizationView {
            challenge: ChallengeRecord {
                authorization_url,
                challenge_url: ch.url.clone(),
                txt_name: name.acme_challenge_name(),
                txt_value: ch.key_authorization().dns_value(),
            },
            domain: name,
            authorized,
        });
    }
    let own = seen
        .iter()
        .find(|a| &a.domain == domain)
        .ok_or(instant_acme::Error::Str(
            "the CA offered no authorization for the order's name",
        ))?;
    Ok(OrderView {
        url: order.url().to_owned(),
        finalize_url,
        status,
        challenge: own.challenge.clone(),
        authorized: own.authorized,
        authorizations: seen,
        problem,
        replaces,
        profile,
    })
}

async fn with_nonce_retry_raw<T, F, Fut>(mut step: F) -> Result<T, instant_acme::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, instant_acme::Error>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match step().await {
            Err(instant_acme::Error::Api(p))
                if p.r#type.as_deref() == Some(BAD_NONCE) && attempt < NONCE_ATTEMPTS =>
            {
                tracing::debug!(attempt, "ACME badNonce; repeating the step");
            }
            Err(e) if unavailable(&e) && attempt < UNAVAILABLE_ATTEMPTS => {
                // Backoff with jitter, or the CA's own (short) Retry-After.
                let backoff = Duration::from_millis(200 << attempt)
                    .mul_f64(0.5 + crate::random::random_unit());
                let wait = recorded_retry_after().unwrap_or(backoff).min(MOST_WAITED);
                tracing::info!(attempt, ?wait, error = %e, "the CA is unavailable; asking again");
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

/// The CA no longer takes the stored account: it does not know it
/// (`accountDoesNotExist`), or answers `unauthorized` because the account
/// was deactivated (Let's Encrypt: "Account is not valid, has status
/// deactivated"). Neither is the tenant's problem.
fn account_unusable(p: &instant_acme::Problem) -> bool {
    let kind = p.r#type.as_deref().unwrap_or_default();
    kind == ACCOUNT_GONE
        || (kind.ends_with(":unauthorized")
            && p.detail
                .as_deref()
                .is_some_and(|d| d.to_ascii_lowercase().contains("deactivated")))
}

/// A CA that could not answer: 503, or the connection failed.
fn unavailable(e: &instant_acme::Error) -> bool {
    match e {
        instant_acme::Error::Api(p) => p.status == Some(503),
        instant_acme::Error::Http(_) | instant_acme::Error::Hyper(_) => true,
        // The HTTP client's own failure: no connection, or one closed
        // without an answer. A new order whose answer was lost that way may
        // leave one pending order at the CA, which expires unused (Let's
        // Encrypt answers a repeated order for the same names with it);
        // challenge answers and finalisations re-read the order first.
        instant_acme::Error::Other(inner) => inner
            .downcast_ref::<hyper_util::client::legacy::Error>()
            .is_some(),
        _ => false,
    }
}

fn map_error(e: instant_acme::Error) -> Error {
    match &e {
        instant_acme::Error::Api(p) => {
            let kind = p.r#type.as_deref().unwrap_or_default();
            let refused = [
                "rejectedIdentifier",
                "caa",
                "unsupportedIdentifier",
                "rateLimited",
                "unauthorized",
            ];
            if kind.ends_with("rateLimited") {
                // The CA's own limit: its Retry-After, or an hour.
                let retry_after = recorded_retry_after().unwrap_or(Duration::from_secs(3600));
                return Error::RateLimited {
                    code: Code::AcmeRateLimited,
                    limit: None,
                    message: format!(
                        "the certificate authority is rate limiting this account: {p}"
                    ),
                    retry_after: retry_after.max(Duration::from_secs(1)),
                };
            }
            if refused.iter().any(|k| kind.ends_with(k)) {
                return Error::Rejected {
                    code: Code::AcmeRefused,
                    message: format!("the certificate authority refused: {p}"),
                };
            }
            Error::upstream(Service::Acme, e)
        }
        _ => Error::upstream(Service::Acme, e),
    }
}

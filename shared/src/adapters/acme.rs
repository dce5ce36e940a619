//! The ACME server, through instant-acme.
//!
//! The HTTP client is our own: it trusts the public web roots plus, when
//! `ACME_CA_BUNDLE` is set, one extra root (a local Pebble's), for ACME
//! traffic only, and it sets TCP_NODELAY, which instant-acme's default client
//! does not (without it every POST stalls for a delayed ACK, ~40 ms each).
//!
//! Every call goes through [`with_nonce_retry`]: instant-acme retries a
//! `badNonce` a few times itself; we repeat the whole step on top, since a CA
//! under load can reject several nonces in a row.

use std::sync::Arc;
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, ChallengeType, HttpClient,
    Identifier, NewAccount, NewOrder, Order, OrderStatus,
};
use tokio::time::Instant;

use crate::domain::{ChallengeRecord, DomainName};
use crate::error::{Error, Service};

const BAD_NONCE: &str = "urn:ietf:params:acme:error:badNonce";
const ACCOUNT_GONE: &str = "urn:ietf:params:acme:error:accountDoesNotExist";
const NONCE_ATTEMPTS: usize = 5;

/// How to reach the ACME server.
#[derive(Clone)]
pub struct AcmeServer {
    pub directory_url: String,
    contact: Option<String>,
    http: Arc<dyn Fn() -> Box<dyn HttpClient> + Send + Sync>,
}

impl std::fmt::Debug for AcmeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcmeServer")
            .field("directory_url", &self.directory_url)
            .finish()
    }
}

/// The ACME server's view of an order, as far as this product needs it.
#[derive(Clone, Debug)]
pub struct OrderView {
    pub url: String,
    pub finalize_url: String,
    pub status: OrderStatus,
    pub expires: Option<String>,
    /// The DNS-01 challenge of the order's one authorization.
    pub challenge: ChallengeRecord,
    /// Whether that authorization is already valid (reused by the CA).
    pub authorized: bool,
    /// The CA's explanation when the order is invalid.
    pub problem: Option<String>,
}

impl AcmeServer {
    /// Builds the client; reads the extra root file but does no network I/O.
    pub fn new(
        directory_url: String,
        contact_email: Option<String>,
        ca_bundle: Option<&str>,
    ) -> Result<Self, Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_bundle {
            use rustls_pki_types::pem::PemObject;
            let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| Error::Internal(format!("ACME_CA_BUNDLE {path}: {e}")))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| Error::Internal(format!("ACME_CA_BUNDLE {path}: {e}")))?;
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
        let http = Arc::new(move || -> Box<dyn HttpClient> {
            let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
            tcp.set_nodelay(true);
            tcp.enforce_http(false);
            tcp.set_connect_timeout(Some(Duration::from_secs(5)));
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls.clone())
                .https_only()
                .enable_http1()
                .wrap_connector(tcp);
            Box::new(
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build::<_, BodyWrapper<bytes::Bytes>>(https),
            )
        });
        Ok(Self {
            directory_url,
            contact: contact_email,
            http,
        })
    }

    /// Restores an account from stored credentials (fetches the directory).
    pub async fn connect(&self, credentials_json: &[u8]) -> Result<Account, Error> {
        let credentials: AccountCredentials = serde_json::from_slice(credentials_json)
            .map_err(|e| Error::Internal(format!("stored ACME credentials do not parse: {e}")))?;
        Account::builder_with_http((self.http)())
            .from_credentials(credentials)
            .await
            .map_err(map_error)
    }

    /// Registers a new account; answers it and its credentials as JSON.
    pub async fn register(&self) -> Result<(Account, Vec<u8>), Error> {
        let contact = self.contact.as_ref().map(|c| format!("mailto:{c}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let (account, credentials) = with_nonce_retry(|| async {
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
        .await?;
        let json = serde_json::to_vec(&credentials).map_err(|e| Error::Internal(e.to_string()))?;
        Ok((account, json))
    }
}

/// Whether the CA no longer knows the account (a test CA restarted, or the
/// account was deactivated): the caller registers anew.
pub fn is_account_gone(e: &Error) -> bool {
    matches!(e, Error::Upstream { source, .. } if source.to_string().contains("accountDoesNotExist") || source.to_string().contains(ACCOUNT_GONE))
}

/// Places a new order for one hostname.
pub async fn new_order(account: &Account, domain: &DomainName) -> Result<OrderView, Error> {
    let identifiers = [Identifier::Dns(domain.to_string())];
    let order =
        with_nonce_retry(|| async { account.new_order(&NewOrder::new(&identifiers)).await })
            .await?;
    // Read back (rather than retrying the order itself, which would place
    // a second one) so that reading its authorization is retried too.
    read_order(account, order.url(), domain)
        .await?
        .ok_or_else(|| Error::upstream(Service::Acme, "the new order could not be read back"))
}

/// Reads an existing order; `None` when the CA no longer has it.
pub async fn read_order(
    account: &Account,
    url: &str,
    domain: &DomainName,
) -> Result<Option<OrderView>, Error> {
    let result = with_nonce_retry_raw(|| async {
        let mut order = account.order(url.to_owned()).await?;
        view(&mut order, domain).await
    })
    .await;
    match result {
        Ok(v) => Ok(Some(v)),
        Err(instant_acme::Error::Api(p)) if p.status == Some(404) => Ok(None),
        Err(e) => Err(map_error(e)),
    }
}

async fn view(order: &mut Order, domain: &DomainName) -> Result<OrderView, instant_acme::Error> {
    let state = order.state();
    let (status, finalize_url) = (state.status, state.finalize.clone());
    let problem = state.error.as_ref().map(|p| p.to_string());
    let mut challenge = None;
    let mut authorized = false;
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz?;
        authorized = authz.status == AuthorizationStatus::Valid;
        let authorization_url = authz.url().to_owned();
        if let Some(ch) = authz.challenge(ChallengeType::Dns01) {
            challenge = Some(ChallengeRecord {
                authorization_url,
                challenge_url: ch.url.clone(),
                txt_name: domain.acme_challenge_name(),
                txt_value: ch.key_authorization().dns_value(),
            });
        }
    }
    let challenge = challenge.ok_or(instant_acme::Error::Str(
        "the CA offered no dns-01 challenge for this name",
    ))?;
    Ok(OrderView {
        url: order.url().to_owned(),
        finalize_url,
        status,
        expires: None,
        challenge,
        authorized,
        problem,
    })
}

/// Tells the CA the TXT record is in place.
pub async fn answer_challenge(account: &Account, order_url: &str) -> Result<(), Error> {
    with_nonce_retry(|| async {
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
}

/// Polls the order until it leaves `pending`/`processing` or `deadline`
/// passes; answers the last status seen and the CA's problem text, if any.
pub async fn poll_order(
    account: &Account,
    order_url: &str,
    interval: Duration,
    deadline: Instant,
) -> Result<(OrderStatus, Option<String>), Error> {
    let mut delay = interval;
    loop {
        let mut order = with_nonce_retry(|| account.order(order_url.to_owned())).await?;
        let state = order.state();
        let settled = !matches!(state.status, OrderStatus::Pending | OrderStatus::Processing);
        let result = (state.status, state.error.as_ref().map(|p| p.to_string()));
        if settled || Instant::now() + delay >= deadline {
            return Ok(result);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// Sends the CSR to the order's finalize URL.
pub async fn finalize(account: &Account, order_url: &str, csr_der: &[u8]) -> Result<(), Error> {
    with_nonce_retry(|| async {
        let mut order = account.order(order_url.to_owned()).await?;
        if order.state().status == OrderStatus::Ready {
            order.finalize_csr(csr_der).await?;
        }
        Ok(())
    })
    .await
}

/// Downloads the certificate chain of a valid order (None while processing).
pub async fn download_certificate(
    account: &Account,
    order_url: &str,
) -> Result<Option<String>, Error> {
    with_nonce_retry(|| async {
        let mut order = account.order(order_url.to_owned()).await?;
        order.certificate().await
    })
    .await
}

async fn with_nonce_retry<T, F, Fut>(step: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, instant_acme::Error>>,
{
    with_nonce_retry_raw(step).await.map_err(map_error)
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
            other => return other,
        }
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
            if let Some(k) = refused.iter().find(|k| kind.ends_with(*k)) {
                let code = if *k == "rateLimited" {
                    "acme_rate_limited"
                } else {
                    "acme_refused"
                };
                return Error::Rejected {
                    code,
                    message: format!("the certificate authority refused: {p}"),
                };
            }
            Error::upstream(Service::Acme, e)
        }
        _ => Error::upstream(Service::Acme, e),
    }
}

//! A test-only HTTPS proxy in front of the local Pebble ACME server.
//!
//! Debian's Pebble 2.4.0 has no ACME Renewal Information (ARI, RFC 9773):
//! its directory has no `renewalInfo`, it ignores a new order's `replaces`
//! and it sends no `Retry-After`. So that tests can drive renewals against a
//! real CA, this proxy adds `renewalInfo` to the directory and answers
//! `renewal-info/<certID>` itself with the windows a test sets, records the
//! `replaces` of each new order (and echoes it in the 201 answer, as RFC 9773
//! requires and instant-acme checks), and can answer chosen requests with an
//! ACME problem instead of forwarding them (CA faults).
//!
//! Everything else is forwarded unchanged, Host header included: Pebble
//! builds its URLs from the Host it is asked at and checks each JWS `url`
//! against it, so its URLs point back at the proxy and signatures stay valid.
//! The proxy serves TLS with the local CA's leaf for 127.0.0.1 (`pebble.pem`
//! next to `ACME_CA_BUNDLE`), which the product's client trusts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, TRANSFER_ENCODING};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use tokio::net::TcpListener;

use super::stack;

type Body = Full<Bytes>;
type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// Where the renewal information is served (the directory's `renewalInfo`).
const RENEWAL_INFO_PATH: &str = "/renewal-info";
const BAD_NONCE: &str = "urn:ietf:params:acme:error:badNonce";

pub struct AcmeProxy {
    shared: Arc<Shared>,
    pub(crate) addr: SocketAddr,
}

#[derive(Clone, Copy)]
struct Window {
    start: OffsetDateTime,
    end: OffsetDateTime,
    retry_after_secs: u64,
}

#[derive(Clone)]
struct Fault {
    path_part: String,
    times: u32,
    status: u16,
    problem_type: String,
    retry_after_secs: Option<u64>,
    detail: String,
    /// Instead of a problem: close the connection without an answer.
    drop: bool,
    /// Instead of a problem: forward after this long.
    delay_ms: Option<u64>,
}

struct State {
    default_window: Window,
    windows: HashMap<String, Window>,
    new_orders: Vec<Option<String>>,
    renewal_info_requests: Vec<String>,
    /// The path of every request answered, in order (not those refused
    /// for a bad nonce: the client sends them again).
    paths: Vec<String>,
    faults: Vec<Fault>,
    tripwire: Option<Arc<super::tripwire::Tripwire>>,
}

struct Shared {
    state: Mutex<State>,
    client: HttpsClient,
    /// Pebble's `https://host:port`.
    upstream: String,
    directory_path: String,
    new_order_path: String,
    new_nonce_url: String,
    /// The proxy's own `renewalInfo` URL.
    renewal_info_url: String,
}

impl AcmeProxy {
    /// Starts on 127.0.0.1:<random port>; runs until the process ends (spawned task).
    pub async fn start() -> AcmeProxy {
        Self::start_in_front_of(&stack().var("ACME_DIRECTORY_URL")).await
    }

    /// As [`AcmeProxy::start`], in front of the local CA at `directory`
    /// (the stack's short-lived one, say).
    pub async fn start_in_front_of(directory: &str) -> AcmeProxy {
        let directory: Uri = directory.parse().unwrap();
        let authority = directory.authority().unwrap().clone();
        assert!(
            matches!(authority.host(), "127.0.0.1" | "localhost" | "[::1]"),
            "the ACME proxy only forwards to a local Pebble, not {authority}"
        );
        let client = https_client();
        // Pebble's own directory, for the paths of newOrder and newNonce.
        let rsp = client.get(directory.clone()).await.unwrap();
        let body = rsp.into_body().collect().await.unwrap().to_bytes();
        let dir: Value = serde_json::from_slice(&body).unwrap();
        let path_of = |key: &str| {
            let url: Uri = dir[key].as_str().unwrap().parse().unwrap();
            url.path().to_owned()
        };
        let upstream = format!("https://{authority}");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let now = OffsetDateTime::now_utc();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                default_window: Window {
                    start: now + Duration::days(30),
                    end: now + Duration::days(31),
                    retry_after_secs: 3600,
                },
                windows: HashMap::new(),
                new_orders: Vec::new(),
                renewal_info_requests: Vec::new(),
                paths: Vec::new(),
                faults: Vec::new(),
                tripwire: None,
            }),
            client,
            new_nonce_url: format!("{upstream}{}", path_of("newNonce")),
            new_order_path: path_of("newOrder"),
            directory_path: directory.path().to_owned(),
            upstream,
            renewal_info_url: format!("https://{addr}{RENEWAL_INFO_PATH}"),
        });
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_tls()));
        let served = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, shared) = (acceptor.clone(), served.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move {
                            shared
                                .handle(req)
                                .await
                                .ok_or_else(|| std::io::Error::other("connection dropped"))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        AcmeProxy { shared, addr }
    }

    /// The directory URL to give the product (`https://127.0.0.1:<port>/dir`).
    pub fn directory_url(&self) -> String {
        format!("https://{}{}", self.addr, self.shared.directory_path)
    }

    /// The window answered for certificate `cert_id` (the ARI identifier
    /// string "<aki>.<serial>"), with `retry_after_secs` seconds in the
    /// Retry-After header.
    pub fn set_window(
        &self,
        cert_id: &str,
        start: OffsetDateTime,
        end: OffsetDateTime,
        retry_after_secs: u64,
    ) {
        let window = Window {
            start,
            end,
            retry_after_secs,
        };
        self.state().windows.insert(cert_id.to_owned(), window);
    }

    /// The window for any certificate without its own (initially: from
    /// now+30 days to now+31 days, Retry-After 3600).
    pub fn set_default_window(
        &self,
        start: OffsetDateTime,
        end: OffsetDateTime,
        retry_after_secs: u64,
    ) {
        self.state().default_window = Window {
            start,
            end,
            retry_after_secs,
        };
    }

    /// The `replaces` value of each newOrder request seen so far, in order
    /// (None for an order without it): those answered with an injected fault
    /// included, those answered `badNonce` (which the client repeats) not.
    pub fn new_orders(&self) -> Vec<Option<String>> {
        self.state().new_orders.clone()
    }

    /// The certificate IDs whose renewal info was asked for, in order;
    /// faulted requests included.
    pub fn renewal_info_requests(&self) -> Vec<String> {
        self.state().renewal_info_requests.clone()
    }

    /// Fault injection: the next `times` requests whose path contains
    /// `path_part` (e.g. "order-plz", "finalize", "renewal-info") are
    /// answered with `status` and an RFC 7807 problem of type `problem_type`
    /// (with a fresh Replay-Nonce from Pebble, and `Retry-After` when given)
    /// instead of being forwarded. Faults queue: the earliest matching wins.
    pub fn fail_next(
        &self,
        path_part: &str,
        times: u32,
        status: u16,
        problem_type: &str,
        retry_after_secs: Option<u64>,
    ) {
        self.fail_next_saying(
            path_part,
            times,
            status,
            problem_type,
            retry_after_secs,
            "injected by the test ACME proxy",
        );
    }

    /// As [`AcmeProxy::fail_next`], with the problem's `detail`.
    pub fn fail_next_saying(
        &self,
        path_part: &str,
        times: u32,
        status: u16,
        problem_type: &str,
        retry_after_secs: Option<u64>,
        detail: &str,
    ) {
        self.state().faults.push(Fault {
            path_part: path_part.to_owned(),
            times,
            status,
            problem_type: problem_type.to_owned(),
            retry_after_secs,
            detail: detail.to_owned(),
            drop: false,
            delay_ms: None,
        });
    }

    /// How many requests answered (bad nonces aside) had a path containing
    /// `part`.
    pub fn requests_to(&self, part: &str) -> usize {
        self.state()
            .paths
            .iter()
            .filter(|p| p.contains(part))
            .count()
    }

    /// Forgets every fault not yet used: the CA works again.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// The next `times` requests whose path contains `path_part` get no
    /// answer: the connection is closed (as a CA's load balancer may).
    pub fn drop_next(&self, path_part: &str, times: u32) {
        self.push_fault(path_part, times, true, None);
    }

    /// The next `times` requests whose path contains `path_part` are
    /// forwarded after `millis` (a slow CA).
    pub fn delay_next(&self, path_part: &str, times: u32, millis: u64) {
        self.push_fault(path_part, times, false, Some(millis));
    }

    fn push_fault(&self, path_part: &str, times: u32, drop: bool, delay_ms: Option<u64>) {
        self.state().faults.push(Fault {
            path_part: path_part.to_owned(),
            times,
            status: 0,
            problem_type: String::new(),
            retry_after_secs: None,
            detail: String::new(),
            drop,
            delay_ms,
        });
    }

    /// Reports each new order, challenge answer and finalisation to
    /// `tripwire` once Pebble answered it (see `tripwire`).
    pub fn set_tripwire(&self, tripwire: Arc<super::tripwire::Tripwire>) {
        self.state().tripwire = Some(tripwire);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap()
    }
}

impl Shared {
    /// The answer to `req`; `None` to close the connection unanswered.
    async fn handle(&self, req: Request<Incoming>) -> Option<Response<Body>> {
        let (mut parts, body) = req.into_parts();
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return Some(answer(
                StatusCode::BAD_REQUEST,
                "text/plain",
                "unreadable body",
            ));
        };
        let path = parts.uri.path().to_owned();
        let new_order = parts.method == Method::POST && path == self.new_order_path;
        let replaces = new_order.then(|| replaces_of(&body)).flatten();
        let cert_id = path
            .strip_prefix(RENEWAL_INFO_PATH)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|id| !id.is_empty())
            .map(str::to_owned);

        let (fault, window) = {
            let mut state = self.state.lock().unwrap();
            if let Some(id) = &cert_id {
                state.renewal_info_requests.push(id.clone());
            }
            let window = cert_id
                .as_ref()
                .map(|id| *state.windows.get(id).unwrap_or(&state.default_window));
            (take_fault(&mut state.faults, &path), window)
        };
        // A new order is recorded once answered, unless with badNonce
        // (the client sends it again with a fresh nonce).
        let record_order = |bad_nonce: bool| {
            if new_order && !bad_nonce {
                self.state.lock().unwrap().new_orders.push(replaces.clone());
            }
        };
        let mut fault = fault;
        if let Some(f) = fault.as_ref().filter(|f| f.drop) {
            tracing::debug!(path = %f.path_part, "test ACME proxy: dropping the connection");
            return None;
        }
        if let Some(ms) = fault.as_ref().and_then(|f| f.delay_ms) {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            fault = None;
        }
        if let Some(fault) = fault {
            record_order(fault.problem_type == BAD_NONCE);
            return Some(self.problem(&fault).await);
        }
        if let Some(w) = window {
            let body = json!({ "suggestedWindow": {
                "start": w.start.format(&Rfc3339).unwrap(),
                "end": w.end.format(&Rfc3339).unwrap(),
            }});
            let mut rsp = answer(StatusCode::OK, "application/json", body.to_string());
            rsp.headers_mut()
                .insert(RETRY_AFTER, w.retry_after_secs.into());
            return Some(rsp);
        }

        // Forward, keeping the Host the client used (see the module doc).
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = format!("{}{path_and_query}", self.upstream)
            .parse()
            .unwrap();
        let forwarded = Request::from_parts(parts, Full::new(body));
        let Ok(rsp) = self.client.request(forwarded).await else {
            return Some(answer(
                StatusCode::BAD_GATEWAY,
                "text/plain",
                "Pebble unreachable",
            ));
        };
        let (mut parts, body) = rsp.into_parts();
        let Ok(mut body) = body.collect().await.map(|b| b.to_bytes()) else {
            return Some(answer(
                StatusCode::BAD_GATEWAY,
                "text/plain",
                "Pebble's answer broke off",
            ));
        };
        let problem = serde_json::from_slice::<Value>(&body).unwrap_or_default();
        record_order(problem["type"] == BAD_NONCE);
        if problem["type"] != BAD_NONCE {
            self.state.lock().unwrap().paths.push(path.clone());
        }
        let change = match () {
            _ if new_order => Some("acme newOrder"),
            _ if path.contains("/chalZ/") => Some("acme challenge"),
            _ if path.contains("/finalize-order/") => Some("acme finalize"),
            _ => None,
        };
        let tripwire = self.state.lock().unwrap().tripwire.clone();
        if let (Some(t), Some(change)) = (tripwire, change) {
            if parts.status.is_success() && t.after_upstream(change.to_owned()) {
                return Some(answer(StatusCode::BAD_GATEWAY, "text/plain", "killed"));
            }
        }
        let added = if path == self.directory_path && parts.status == StatusCode::OK {
            Some(("renewalInfo", self.renewal_info_url.clone()))
        } else if parts.status == StatusCode::CREATED {
            replaces.clone().map(|r| ("replaces", r))
        } else {
            None
        };
        if let Some((key, value)) = added {
            if let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&body) {
                object.insert(key.to_owned(), value.into());
                body = Value::Object(object).to_string().into();
            }
        }
        // hyper sets the length of the (possibly changed) body.
        for header in [CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION] {
            parts.headers.remove(header);
        }
        Some(Response::from_parts(parts, Full::new(body)))
    }

    /// An injected fault's answer, with a fresh nonce so clients can go on.
    async fn problem(&self, fault: &Fault) -> Response<Body> {
        let body = json!({
            "type": fault.problem_type,
            "detail": fault.detail,
            "status": fault.status,
        });
        let status = StatusCode::from_u16(fault.status).unwrap();
        let mut rsp = answer(status, "application/problem+json", body.to_string());
        let nonce = Request::head(&self.new_nonce_url).body(Body::default());
        if let Ok(nonce) = self.client.request(nonce.unwrap()).await {
            if let Some(value) = nonce.headers().get("replay-nonce") {
                rsp.headers_mut().insert("replay-nonce", value.clone());
            }
        }
        if let Some(secs) = fault.retry_after_secs {
            rsp.headers_mut().insert(RETRY_AFTER, secs.into());
        }
        rsp
    }
}

/// Takes one use of the earliest fault matching `path`.
fn take_fault(faults: &mut Vec<Fault>, path: &str) -> Option<Fault> {
    let i = faults
        .iter()
        .position(|f| f.times > 0 && path.contains(&f.path_part))?;
    faults[i].times -= 1;
    let fault = faults[i].clone();
    if faults[i].times == 0 {
        faults.remove(i);
    }
    Some(fault)
}

/// The `replaces` of a newOrder request (a flattened JWS).
fn replaces_of(jws: &[u8]) -> Option<String> {
    let jws: Value = serde_json::from_slice(jws).ok()?;
    let payload = URL_SAFE_NO_PAD.decode(jws["payload"].as_str()?).ok()?;
    let payload: Value = serde_json::from_slice(&payload).ok()?;
    payload["replaces"].as_str().map(str::to_owned)
}

fn answer(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, content_type)
        .body(Full::new(body.into()))
        .unwrap()
}

/// An HTTPS client trusting only the local CA.
pub(crate) fn https_client() -> HttpsClient {
    super::local_ca_https_client()
}

/// The proxy's TLS: the local CA's leaf for 127.0.0.1, as Pebble serves.
fn server_tls() -> rustls::ServerConfig {
    let bundle = std::path::PathBuf::from(stack().var("ACME_CA_BUNDLE"));
    let dir = bundle.parent().unwrap();
    let certs = CertificateDer::pem_file_iter(dir.join("pebble.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("pebble.key")).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

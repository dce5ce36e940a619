//! The platform's `_acme-challenge` delegation zone: where the product
//! writes a delegated hostname's TXT record itself.
//!
//! A tenant publishes, once, `_acme-challenge.<host> CNAME <label>.<zone>`
//! (`<label>` is random per claim, so it cannot be guessed from another
//! tenant's). The CA follows the CNAME, so every later validation, renewals
//! included, needs nobody: the product writes the TXT value at
//! `<label>.<zone>`, waits until the zone's authoritative servers answer it,
//! tells the CA, and removes it afterwards.
//!
//! Two providers, chosen by `DELEGATION_PROVIDER`:
//! - **Route 53** (what an AWS deployment uses): `ChangeResourceRecordSets`
//!   (UPSERT), then `GetChange` until `INSYNC`, which Route 53 reports once
//!   every one of its authoritative servers answers the change.
//! - **RFC 2136 dynamic update with TSIG** (HMAC-SHA256), for platforms that
//!   run their own DNS (as cert-manager, lego and certbot offer): the update
//!   goes to the primary, which is then asked directly until it answers.
//!   The key's secret is read from Secrets Manager on the container's first
//!   update (`config::TsigSecret`), so a function that never writes a
//!   record never needs to read it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use hickory_proto::op::{update_message, Message, ResponseCode, UpdateMessage};
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{Name, RData, Record, RecordType, TSigner};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::adapters::dns::DnsPrecheck;
use crate::config::{decode_tsig_secret, Delegation, DelegationProvider, TsigSecret};
use crate::error::{Error, Service};

/// TTL of the TXT records written: short, they live for one validation.
const TTL: u32 = 60;

#[derive(Clone)]
pub struct DelegationZone {
    /// The zone, lower case, no trailing dot.
    pub zone: String,
    wait: Duration,
    provider: Provider,
}

#[derive(Clone)]
enum Provider {
    Route53 {
        client: super::lazy::Lazy<aws_sdk_route53::Client>,
        hosted_zone_id: String,
    },
    Rfc2136 {
        server: SocketAddr,
        key: Arc<Tsig>,
        /// Asks the primary directly whether it answers the record yet.
        primary: DnsPrecheck,
    },
}

/// The RFC 2136 key: its name, where its secret is, and the signer made
/// from it on first use (kept for the container's life).
struct Tsig {
    name: Name,
    secret: TsigSecret,
    secrets: super::lazy::Lazy<aws_sdk_secretsmanager::Client>,
    signer: tokio::sync::OnceCell<TSigner>,
}

impl Tsig {
    async fn signer(&self) -> Result<&TSigner, Error> {
        self.signer
            .get_or_try_init(|| async {
                let secret = match &self.secret {
                    TsigSecret::Inline(secret) => secret.clone(),
                    TsigSecret::SecretsManager { secret_id } => {
                        let out = self
                            .secrets
                            .get_secret_value()
                            .secret_id(secret_id)
                            .send()
                            .await
                            .map_err(|e| {
                                Error::upstream(
                                    Service::SecretsManager,
                                    aws_sdk_secretsmanager::Error::from(e),
                                )
                            })?;
                        out.secret_string()
                            .and_then(decode_tsig_secret)
                            .ok_or_else(|| {
                                Error::Internal(format!(
                                    "the secret {secret_id} (RFC2136_TSIG_SECRET_ARN) \
                                     holds no base64 TSIG secret"
                                ))
                            })?
                    }
                };
                TSigner::new(secret, TsigAlgorithm::HmacSha256, self.name.clone(), 300)
                    .map_err(|e| Error::Internal(format!("TSIG key: {e}")))
            })
            .await
    }
}

impl std::fmt::Debug for DelegationZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegationZone")
            .field("zone", &self.zone)
            .finish()
    }
}

/// What a publication needs to be waited on.
#[derive(Clone, Debug)]
pub enum Published {
    /// Route 53's change ID: kept with the order, so a later call waits on
    /// the same change instead of making a new one (which would start
    /// Route 53's propagation over).
    Change(String),
    /// An RFC 2136 update the primary accepted (repeating it is cheap).
    Updated,
}

impl Published {
    /// The ID worth keeping, if any.
    pub fn change_id(&self) -> Option<&str> {
        match self {
            Published::Change(id) => Some(id),
            Published::Updated => None,
        }
    }
}

fn upstream(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::upstream(Service::Dns, e)
}

impl DelegationZone {
    /// Builds the provider's client; no network I/O.
    pub fn new(config: &Delegation, sdk: &aws_config::SdkConfig) -> Result<Self, Error> {
        let provider = match &config.provider {
            DelegationProvider::Route53 { hosted_zone_id } => Provider::Route53 {
                client: {
                    let sdk = sdk.clone();
                    super::lazy::Lazy::new(move || aws_sdk_route53::Client::new(&sdk))
                },
                hosted_zone_id: hosted_zone_id.clone(),
            },
            DelegationProvider::Rfc2136 {
                server,
                key_name,
                secret,
            } => Provider::Rfc2136 {
                server: *server,
                key: Arc::new(Tsig {
                    name: Name::from_ascii(key_name)
                        .map_err(|e| Error::Internal(format!("RFC2136_TSIG_KEY_NAME: {e}")))?,
                    secret: secret.clone(),
                    secrets: {
                        let sdk = sdk.clone();
                        super::lazy::Lazy::new(move || aws_sdk_secretsmanager::Client::new(&sdk))
                    },
                    signer: tokio::sync::OnceCell::new(),
                }),
                primary: DnsPrecheck::authoritative(*server),
            },
        };
        Ok(Self {
            zone: config.zone.clone(),
            wait: config.wait,
            provider,
        })
    }

    /// The name in the zone for a hostname's delegation label.
    pub fn target(&self, label: &str) -> String {
        format!("{label}.{}", self.zone)
    }

    /// How long one call waits for a record to be answered.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// Sets the TXT record at `name` (in the zone) to exactly `value`.
    pub async fn publish_txt(&self, name: &str, value: &str) -> Result<Published, Error> {
        match &self.provider {
            Provider::Route53 {
                client,
                hosted_zone_id,
            } => {
                let out = client
                    .change_resource_record_sets()
                    .hosted_zone_id(hosted_zone_id)
                    .change_batch(batch(ChangeAction::Upsert, name, value)?)
                    .send()
                    .await
                    .map_err(|e| Error::upstream(Service::Dns, aws_sdk_route53::Error::from(e)))?;
                let id = out
                    .change_info
                    .map(|c| c.id)
                    .ok_or_else(|| upstream("ChangeResourceRecordSets answered no change"))?;
                Ok(Published::Change(id))
            }
            Provider::Rfc2136 { server, key, .. } => {
                let signer = key.signer().await?;
                let record = txt_record(name, value)?;
                let mut message = update_message::delete_rrset(
                    Record::update0(record.name.clone(), 0, RecordType::TXT),
                    zone_name(&self.zone)?,
                    false,
                );
                message.add_update(record);
                send_update(*server, signer, message).await?;
                Ok(Published::Updated)
            }
        }
    }

    /// Whether the zone's authoritative servers answer `value` at `name`
    /// yet; waits (polling) until `deadline`.
    pub async fn wait_published(
        &self,
        published: &Published,
        name: &str,
        value: &str,
        deadline: Instant,
    ) -> Result<bool, Error> {
        // Route 53 allows 5 GetChange requests a second per account.
        let (mut delay, most) = match &self.provider {
            Provider::Route53 { .. } => (Duration::from_secs(1), Duration::from_secs(2)),
            Provider::Rfc2136 { .. } => (Duration::from_millis(20), Duration::from_secs(1)),
        };
        loop {
            let answered = match (&self.provider, published) {
                (Provider::Route53 { client, .. }, Published::Change(id)) => {
                    let out = client.get_change().id(id).send().await.map_err(|e| {
                        Error::upstream(Service::Dns, aws_sdk_route53::Error::from(e))
                    })?;
                    out.change_info.map(|c| c.status) == Some(ChangeStatus::Insync)
                }
                (Provider::Rfc2136 { primary, .. }, _) => primary
                    .observe(name, deadline)
                    .await
                    .iter()
                    .any(|o| o.values.iter().any(|v| v == value)),
                _ => return Err(Error::Internal("a publication of another provider".into())),
            };
            if answered {
                return Ok(true);
            }
            if Instant::now() + delay >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(most);
        }
    }

    /// Removes the TXT record at `name` (whose value is `value`); removing
    /// one that is gone is not an error.
    pub async fn remove_txt(&self, name: &str, value: &str) -> Result<(), Error> {
        match &self.provider {
            Provider::Route53 {
                client,
                hosted_zone_id,
            } => {
                let result = client
                    .change_resource_record_sets()
                    .hosted_zone_id(hosted_zone_id)
                    .change_batch(batch(ChangeAction::Delete, name, value)?)
                    .send()
                    .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_invalid_change_batch()) =>
                    {
                        Ok(()) // already gone
                    }
                    Err(e) => Err(Error::upstream(
                        Service::Dns,
                        aws_sdk_route53::Error::from(e),
                    )),
                }
            }
            Provider::Rfc2136 { server, key, .. } => {
                let signer = key.signer().await?;
                let fqdn = fqdn(name)?;
                let message = update_message::delete_rrset(
                    Record::update0(fqdn, 0, RecordType::TXT),
                    zone_name(&self.zone)?,
                    false,
                );
                send_update(*server, signer, message).await
            }
        }
    }
}

fn fqdn(name: &str) -> Result<Name, Error> {
    Name::from_ascii(format!("{}.", name.trim_end_matches('.')))
        .map_err(|e| Error::Internal(format!("bad name {name}: {e}")))
}

fn zone_name(zone: &str) -> Result<Name, Error> {
    fqdn(zone)
}

fn txt_record(name: &str, value: &str) -> Result<Record, Error> {
    Ok(Record::from_rdata(
        fqdn(name)?,
        TTL,
        RData::TXT(TXT::new(vec![value.to_owned()])),
    ))
}

fn batch(action: ChangeAction, name: &str, value: &str) -> Result<ChangeBatch, Error> {
    let set = ResourceRecordSet::builder()
        .name(format!("{}.", name.trim_end_matches('.')))
        .r#type(RrType::Txt)
        .ttl(i64::from(TTL))
        .resource_records(
            ResourceRecord::builder()
                .value(format!("\"{value}\""))
                .build()
                .map_err(|e| Error::Internal(e.to_string()))?,
        )
        .build()
        .map_err(|e| Error::Internal(e.to_string()))?;
    ChangeBatch::builder()
        .changes(
            Change::builder()
                .action(action)
                .resource_record_set(set)
                .build()
                .map_err(|e| Error::Internal(e.to_string()))?,
        )
        .build()
        .map_err(|e| Error::Internal(e.to_string()))
}

/// Signs `message` with TSIG, sends it to the primary over UDP and checks
/// the answer (retried once on a timeout: an update is idempotent here).
/// The answer must carry the server's TSIG over it, chained to the request's
/// MAC (RFC 8945 §5.3): an answer anyone on the path could forge (a spoofed
/// NOERROR) is no proof the zone changed.
async fn send_update(
    server: SocketAddr,
    signer: &TSigner,
    mut message: Message,
) -> Result<(), Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut verifier = message
        .finalize(signer, now)
        .map_err(|e| Error::Internal(format!("TSIG signing: {e}")))?
        .ok_or_else(|| Error::Internal("TSIG signing gave no verifier".into()))?;
    let bytes = message
        .to_vec()
        .map_err(|e| Error::Internal(format!("update message: {e}")))?;
    let socket = UdpSocket::bind(if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })
    .await
    .map_err(upstream)?;
    socket.connect(server).await.map_err(upstream)?;
    let mut buffer = vec![0u8; 4096];
    for attempt in 1..=2 {
        socket.send(&bytes).await.map_err(upstream)?;
        match tokio::time::timeout(Duration::from_secs(3), socket.recv(&mut buffer)).await {
            Ok(Ok(n)) => {
                let answer = Message::from_vec(&buffer[..n])
                    .map_err(|e| upstream(format!("the update answer does not parse: {e}")))?;
                if answer.metadata.id != message.metadata.id {
                    continue;
                }
                // A refusal may come unsigned (BADKEY, BADSIG: the server
                // could not sign it); a success must be signed.
                if answer.metadata.response_code == ResponseCode::NoError {
                    verifier.verify(&buffer[..n]).map_err(|e| {
                        upstream(format!(
                            "the delegation zone's primary {server} answered the update without a valid TSIG signature: {e}"
                        ))
                    })?;
                }
                return match answer.metadata.response_code {
                    ResponseCode::NoError => Ok(()),
                    code => Err(upstream(format!(
                        "the delegation zone's primary {server} refused the update: {code}"
                    ))),
                };
            }
            Ok(Err(e)) => return Err(upstream(e)),
            Err(_) if attempt < 2 => continue,
            Err(_) => {}
        }
    }
    Err(upstream(format!(
        "the delegation zone's primary {server} did not answer the update"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A primary (or anyone on the path) answering NOERROR without the
    /// server's TSIG: the update is not taken as done.
    #[tokio::test]
    async fn an_unsigned_success_is_not_believed() {
        let fake = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server = fake.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            let (n, from) = fake.recv_from(&mut buffer).await.unwrap();
            let request = Message::from_vec(&buffer[..n]).unwrap();
            let mut answer = Message::response(request.metadata.id, request.metadata.op_code);
            answer.metadata.response_code = ResponseCode::NoError;
            fake.send_to(&answer.to_vec().unwrap(), from).await.unwrap();
        });
        let signer = TSigner::new(
            b"0123456789abcdef0123456789abcdef".to_vec(),
            TsigAlgorithm::HmacSha256,
            Name::from_ascii("key.").unwrap(),
            300,
        )
        .unwrap();
        let zone = zone_name("acme-delegation.platform.example").unwrap();
        let record = txt_record("x.acme-delegation.platform.example", "v").unwrap();
        let message = update_message::delete_rrset(
            Record::update0(record.name.clone(), 0, RecordType::TXT),
            zone,
            false,
        );
        let refused = send_update(server, &signer, message).await.unwrap_err();
        assert!(refused.to_string().contains("TSIG"), "{refused}");
    }
}

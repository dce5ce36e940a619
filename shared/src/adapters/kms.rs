//! Sealing secrets with AWS KMS before they are stored.
//!
//! Private keys (at most about 1.7 KB as PEM for RSA 2048, 240 bytes for
//! P-256) and ACME account credentials (about 400 bytes) fit KMS `Encrypt`'s
//! 4 KB limit, so they are encrypted directly under one key, with an
//! encryption context that binds each ciphertext to what it protects: a
//! ciphertext copied onto another record does not decrypt there.

use aws_sdk_kms::primitives::Blob;
use base64::prelude::{Engine, BASE64_STANDARD};

use crate::error::{Error, Service};

#[derive(Clone, Debug)]
pub struct Sealer {
    client: super::lazy::Lazy<aws_sdk_kms::Client>,
    key_id: String,
}

impl Sealer {
    pub fn new(client: impl Into<super::lazy::Lazy<aws_sdk_kms::Client>>, key_id: String) -> Self {
        Self {
            client: client.into(),
            key_id,
        }
    }

    /// Encrypts `plaintext`; answers base64 ciphertext.
    pub async fn seal(
        &self,
        purpose: &str,
        subject: &str,
        plaintext: &[u8],
    ) -> Result<String, Error> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(plaintext))
            .encryption_context("purpose", purpose)
            .encryption_context("subject", subject)
            .send()
            .await
            .map_err(|e| Error::upstream(Service::Kms, aws_sdk_kms::Error::from(e)))?;
        let blob = out
            .ciphertext_blob
            .ok_or_else(|| Error::upstream(Service::Kms, "Encrypt returned no ciphertext"))?;
        Ok(BASE64_STANDARD.encode(blob.into_inner()))
    }

    /// Decrypts what [`Sealer::seal`] produced for the same purpose and subject.
    pub async fn open(&self, purpose: &str, subject: &str, sealed: &str) -> Result<Vec<u8>, Error> {
        let ciphertext = BASE64_STANDARD
            .decode(sealed)
            .map_err(|_| Error::Internal("stored ciphertext is not base64".into()))?;
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(ciphertext))
            .encryption_context("purpose", purpose)
            .encryption_context("subject", subject)
            .send()
            .await
            .map_err(|e| Error::upstream(Service::Kms, aws_sdk_kms::Error::from(e)))?;
        out.plaintext
            .map(Blob::into_inner)
            .ok_or_else(|| Error::upstream(Service::Kms, "Decrypt returned no plaintext"))
    }
}

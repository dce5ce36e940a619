//! Reading what a certificate says, and making the key and CSR for one.

use rcgen::{CertificateParams, DistinguishedName, KeyPair, PublicKeyData};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::{DomainName, Timestamp};
use crate::error::Error;

/// The facts about an issued leaf certificate the product relies on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateFacts {
    /// Hex, lower case.
    pub serial: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub dns_names: Vec<String>,
    /// DER of the SubjectPublicKeyInfo.
    pub public_key: Vec<u8>,
}

/// A PEM chain split into its leaf and the rest.
pub struct Chain<'a> {
    pub leaf_pem: &'a str,
    pub intermediates_pem: &'a str,
}

const END: &str = "-----END CERTIFICATE-----";

pub fn split_chain(chain_pem: &str) -> Result<Chain<'_>, Error> {
    let end = chain_pem
        .find(END)
        .ok_or_else(|| Error::Internal("certificate chain has no PEM certificate".into()))?
        + END.len();
    Ok(Chain {
        leaf_pem: &chain_pem[..end],
        intermediates_pem: chain_pem[end..].trim_start(),
    })
}

/// Reads the leaf of a PEM chain.
pub fn inspect(chain_pem: &str) -> Result<CertificateFacts, Error> {
    let bad = |e: String| Error::Internal(format!("certificate does not parse: {e}"));
    let leaf = split_chain(chain_pem)?.leaf_pem;
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(leaf.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let (_, cert) = X509Certificate::from_der(&pem.contents).map_err(|e| bad(e.to_string()))?;
    let fmt =
        |t: x509_parser::time::ASN1Time| Ok::<_, Error>(Timestamp::from_offset(t.to_datetime()));
    let mut dns_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(n) = name {
                dns_names.push(n.to_ascii_lowercase());
            }
        }
    }
    Ok(CertificateFacts {
        serial: cert
            .raw_serial_as_string()
            .replace(':', "")
            .to_ascii_lowercase(),
        not_before: fmt(cert.validity().not_before)?,
        not_after: fmt(cert.validity().not_after)?,
        dns_names,
        public_key: cert.public_key().raw.to_vec(),
    })
}

/// A fresh EC P-256 key (one of the two kinds CloudFront accepts) and a CSR
/// for `domain`: answers (key PEM, CSR DER).
pub fn new_key_and_csr(names: &[DomainName]) -> Result<(String, Vec<u8>), Error> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| Error::Internal(format!("key generation failed: {e}")))?;
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .map_err(|e| Error::Internal(format!("CSR parameters: {e}")))?;
    params.distinguished_name = DistinguishedName::new();
    let csr = params
        .serialize_request(&key)
        .map_err(|e| Error::Internal(format!("CSR: {e}")))?;
    Ok((key.serialize_pem(), csr.der().to_vec()))
}

/// Whether the certificate described by `facts` is for the key of the CSR
/// `csr_der` (the CSR made with the saved key): the same check as
/// [`key_matches`], without opening the sealed key.
pub fn csr_matches(csr_der: &[u8], facts: &CertificateFacts) -> Result<bool, Error> {
    let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(csr_der)
        .map_err(|e| Error::Internal(format!("stored CSR does not parse: {e}")))?;
    Ok(csr.certification_request_info.subject_pki.raw == facts.public_key.as_slice())
}

/// Whether `key_pem` is the private key of the certificate described by `facts`.
pub fn key_matches(key_pem: &str, facts: &CertificateFacts) -> Result<bool, Error> {
    let key = KeyPair::from_pem(key_pem)
        .map_err(|e| Error::Internal(format!("stored key does not parse: {e}")))?;
    Ok(key.subject_public_key_info() == facts.public_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_round_trip() {
        let domain = DomainName::parse("shop.example.com").unwrap();
        let (key_pem, csr) = new_key_and_csr(std::slice::from_ref(&domain)).unwrap();
        assert!(!csr.is_empty());
        let key = KeyPair::from_pem(&key_pem).unwrap();
        let cert = CertificateParams::new(vec![domain.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let chain = format!("{}\n{}", cert.pem(), cert.pem());
        let split = split_chain(&chain).unwrap();
        assert!(split
            .intermediates_pem
            .starts_with("-----BEGIN CERTIFICATE-----"));
        let facts = inspect(&chain).unwrap();
        assert_eq!(facts.dns_names, vec!["shop.example.com".to_string()]);
        assert!(key_matches(&key_pem, &facts).unwrap());
        assert!(csr_matches(&csr, &facts).unwrap());
        let (other_key, other_csr) = new_key_and_csr(std::slice::from_ref(&domain)).unwrap();
        assert!(!key_matches(&other_key, &facts).unwrap());
        assert!(!csr_matches(&other_csr, &facts).unwrap());
    }
}

//! The ACM path: ACM issues the certificate, API Gateway serves it.

pub mod advance;
pub(crate) mod records;
pub mod request;

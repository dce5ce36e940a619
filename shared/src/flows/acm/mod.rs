//! The ACM path: ACM issues the certificate, API Gateway serves it.

pub mod advance;
pub mod request;

//! The DNS-01 path (Let's Encrypt): the routes' flows, and the order
//! driver and rate limits they share.

pub mod complete;
pub mod driver;
pub mod limits;
pub(crate) mod order;
pub(crate) mod refused;
pub mod renew;
pub mod start;

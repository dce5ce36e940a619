//! Test support: the local stack by URL, the real application served on a
//! random port, and helpers to act as the tenant (publish TXT records) and
//! to read back what the product wrote to AWS.
//!
//! The stack is started by `make test` (`infra/stack.sh up test`); its
//! addresses come from the environment or, failing that, from
//! `.local/test/env`, so `cargo test` works once the stack is up.
//!
//! One module per concern, everything re-exported here, so a test needs
//! only `use crate::support::*;`:
//! - `stack`: the stack's addresses, the product's configuration, its logs;
//! - `tenant`: the tenant under test, its routes and scheduled jobs;
//! - `http`: tokens, serving the application, requests to it;
//! - `dns`: records scripted in the test DNS server;
//! - `aws`: SDK configuration, distributions, ACM look-ups;
//! - `table`: tables of a test's own, from `template.yaml`;
//! - `faults`: a proxy that injects faults into AWS calls;
//! - and, by their module path, `acme_proxy` (a proxy in front of Pebble),
//!   `aws_calls` (every AWS call recorded), `eventbridge` (the events read
//!   back and checked against their schemas), `openapi` (answers checked
//!   against `openapi.json`) and `tripwire` (crashes between calls).

#![allow(dead_code, clippy::unwrap_used)]

pub mod acme_proxy;
pub mod aws_calls;
pub mod eventbridge;
pub mod openapi;
pub mod tripwire;

mod aws;
mod dns;
mod faults;
mod http;
mod stack;
mod table;
mod tenant;

pub use self::aws::*;
pub use self::dns::*;
pub use self::faults::*;
pub use self::http::*;
pub use self::stack::*;
pub use self::table::*;
pub use self::tenant::*;

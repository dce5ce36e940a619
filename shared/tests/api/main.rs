//! The product's HTTP API, driven end to end against the local stack:
//! Pebble (ACME), pebble-challtestsrv (DNS) and moto (AWS). One test binary
//! for the whole suite, so it links once.

#![allow(clippy::unwrap_used)]

mod acm_path;
mod acme_path;
mod ca_limits;
mod claims;
mod cors;
mod crash;
mod delegation;
mod drift;
mod events;
mod isolation;
mod lifecycle_events;
mod managed;
mod metadata;
mod metrics;
mod openapi;
mod operator;
mod own_distribution;
mod precheck;
mod profiles;
mod proof;
mod quotas;
mod renewal;
mod shared_edge;
mod support;
mod template;

//! Vellum: a headless CMS in one binary. See ARCHITECTURE.md for the map.

pub mod api;
pub mod app;
pub mod authz;
pub mod config;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod search;
pub mod server;
pub mod services;
pub mod store;
pub mod telemetry;

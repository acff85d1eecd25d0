//! Vellum: a headless CMS in one binary. See ARCHITECTURE.md for the map.

pub mod api;
pub mod app;
pub mod authz;
pub mod config;
pub mod domain;
pub mod error;
pub mod server;
pub mod services;
pub mod store;
pub mod telemetry;

/// mimalloc for every binary built on this crate (the server, the tests, the benchmarks):
/// glibc's allocator took a tenth of a cached delivery request's CPU in `malloc`, `free`
/// and the locks of its arenas under 32 concurrent connections.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

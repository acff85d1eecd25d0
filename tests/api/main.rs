//! Vellum's integration suite: one binary, a module per capability. Every test runs the
//! real server over HTTP, on SQLite and (with VELLUM_TEST_POSTGRES_URL) on PostgreSQL.

mod helpers;

mod access;
mod audit;
mod auth;
mod bad_input;
mod concurrency;
mod edge;
mod grants;
mod openapi;
mod ops;
mod queries;
mod rate_limits;
mod schema_changes;
mod walkthrough;
mod workflow;

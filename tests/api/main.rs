//! Vellum's integration suite: one binary, a module per capability. Every test runs the
//! real server over HTTP, on SQLite and (with VELLUM_TEST_POSTGRES_URL) on PostgreSQL.

mod helpers;

mod access;
mod access_matrix;
mod audit;
mod auth;
mod bad_input;
mod bounded_queries;
mod clients;
mod comments;
mod concurrency;
mod delivery_cache;
mod delivery_slugs;
mod edge;
mod field_indexes;
mod grants;
mod hot_reads;
mod live;
mod locales;
mod login_hardening;
mod nodes;
mod openapi;
mod ops;
mod populate;
mod queries;
mod rate_limits;
mod schedule;
mod schema_changes;
mod search;
mod sync;
mod tools;
mod totp;
mod trash;
mod typed_edges;
mod walkthrough;
mod workflow;

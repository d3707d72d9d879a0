//! The `muster` binary as a library: configuration, the CLI, the web UI and
//! the API over shared service functions, and the background workers.

pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db_health;
pub mod error;
pub mod foreign_hash;
pub mod hash_pool;
pub mod hashing;
pub mod import_formats;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod progress;
pub mod request_trace;
pub mod security_headers;
pub mod seed;
pub mod seed_attempts;
pub mod selection_query;
pub mod services;
pub mod settings;
pub mod totp;
pub mod user_csv;
pub mod web;

pub use app::{AppState, run};

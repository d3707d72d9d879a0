//! The `muster` binary as a library: configuration, the CLI, the web UI and
//! the API over shared service functions, and the background workers.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod error;
pub mod hashing;
pub mod mail;
pub mod services;
pub mod settings;
pub mod web;

pub use app::{AppState, run};

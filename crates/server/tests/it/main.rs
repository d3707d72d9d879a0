//! All integration tests of the server in one binary (one link on a 2-core machine).
// Tests fail by panicking: unwrap, expect and panic are how they say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod accessibility_browser;
mod api_client;
mod api_docs_browser;
mod api_jsonapi;
mod api_key_ui;
mod api_keys;
mod api_matrix;
mod api_user_changes;
mod backup;
mod cli;
mod cluster;
mod csv_support;
mod dashboard;
mod db_outage;
mod exports;
mod exports_browser;
mod foreign_hashes;
mod full_disk;
mod http_auth;
mod imports;
mod lockout;
mod mail;
mod mailbox;
mod mass_enable;
mod mass_reset;
mod metrics;
mod pages;
mod pages_browser;
mod pages_import;
mod passkeys;
mod passkeys_browser;
mod passwords;
mod passwords_browser;
mod search_totals;
mod second_factor;
mod second_factor_browser;
mod security_data;
mod security_edges;
mod security_headers;
mod selection_surfaces;
mod takeover;
mod ui_browser_grid;
mod ui_browser_users;
mod ui_users;
mod wiring_browser;

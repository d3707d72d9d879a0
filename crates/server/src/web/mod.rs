//! The web UI: server-rendered pages, plain forms, a CSRF check on every
//! state-changing request, and one mapping of errors to pages.

mod api_keys;
pub mod assets;
mod audit_pages;
mod audit_view;
mod auth;
mod charts;
mod confirm;
mod confirmations;
mod dashboard;
pub mod error;
mod exports;
mod grid_state;
mod health;
mod imports;
mod jobs;
mod mail_admin;
mod passkeys;
mod password_hashes;
pub mod passwords;
mod profile;
mod redirect;
mod second_factor;
pub mod session;
mod sessions;
mod settings;
mod user_pages;
mod users_grid;
mod users_mass;

use axum::Router;
use axum::middleware;

use crate::app::AppState;

pub use api_keys::ApiKeySection;
pub use error::PageError;
pub use session::{Layout, Viewer};

pub fn router(state: AppState) -> Router<AppState> {
    let ui = Router::new()
        .merge(api_keys::router())
        .merge(auth::router())
        .merge(dashboard::router())
        .merge(profile::router())
        .merge(mail_admin::router())
        .merge(settings::router())
        .merge(password_hashes::router())
        .merge(users_grid::router())
        .merge(users_mass::router())
        .merge(user_pages::router())
        .merge(audit_pages::router())
        .merge(exports::router())
        .merge(jobs::router())
        .merge(imports::router())
        .merge(passwords::router())
        .merge(second_factor::router())
        .merge(confirmations::router())
        .merge(sessions::router())
        .merge(passkeys::router())
        .layer(middleware::from_fn_with_state(state, session::layer));
    Router::new().merge(health::router()).merge(ui)
}

pub use crate::mail::escape;

/// Time formatting callable from any template as `self.when(…)`.
pub trait TimeFmt {
    fn when(&self, ms: &i64) -> String {
        crate::clock::format(*ms)
    }

    fn when_opt(&self, ms: &Option<i64>) -> String {
        ms.map(crate::clock::format).unwrap_or_else(|| "Never".to_owned())
    }
}

impl<T> TimeFmt for T {}

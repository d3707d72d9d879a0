//! `/admin/settings/password-hashes`: how many users are still on a password
//! hash made by another application (after an import), per scheme, and a
//! **Reset** of the passwords of those still on one.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use muster_domain::Error as DomainError;
use muster_domain::password_hash::Scheme;
use muster_domain::permission::perm;
use serde::Deserialize;

use super::PageError;
use super::session::{Layout, ReqCtx, Viewer, redirect_with_flash};
use crate::app::AppState;
use crate::services::foreign_hashes;

pub const PATH: &str = "/admin/settings/password-hashes";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(PATH, get(page))
        .route("/admin/settings/password-hashes/reset", post(reset))
}

struct SchemeRow {
    key: &'static str,
    label: &'static str,
    users: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "password_hashes.html")]
struct PasswordHashesPage {
    layout: Layout,
    rows: Vec<SchemeRow>,
}

async fn page(State(state): State<AppState>, layout: Layout, viewer: Viewer) -> Result<PasswordHashesPage, PageError> {
    viewer.actor.allow::<perm::ManageSettings>()?;
    let rows = foreign_hashes::counts(&state.store)
        .await?
        .into_iter()
        .map(|(s, users)| SchemeRow {
            key: s.key(),
            label: s.label(),
            users,
        })
        .collect();
    Ok(PasswordHashesPage { layout, rows })
}

#[derive(Deserialize)]
struct ResetForm {
    scheme: String,
}

async fn reset(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Form(form): Form<ResetForm>,
) -> Result<Response, PageError> {
    viewer.actor.allow::<perm::ManageSettings>()?;
    let grant = viewer.actor.allow::<perm::ResetPasswords>()?;
    let scheme = Scheme::from_key(&form.scheme)
        .filter(|s| Scheme::FOREIGN.contains(s))
        .ok_or_else(|| DomainError::invalid("scheme", format!("unknown scheme {:?}", form.scheme)))?;
    let result = foreign_hashes::reset_scheme(&state, &grant, &ctx, scheme).await?;
    Ok(redirect_with_flash(&state, PATH, "success", &result.message()))
}

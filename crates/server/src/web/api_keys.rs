//! Generate Key and revoke, for one's own key (`/profile`) and, for
//! administrators, other users' keys (`/admin/users/{id}`). A new key is
//! shown once, on a page of its own that no cache keeps.
//!
//! A page that shows a user has an `api_keys: ApiKeySection` field made by
//! [`ApiKeySection::load`] and includes `templates/api_keys.html` (a card, as
//! on /profile) or `templates/api_keys_row.html` (`<dt>`/`<dd>` rows for the
//! user page's General Information).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use muster_domain::{Actor, Permission};
use serde::Deserialize;

use super::PageError;
use super::session::{Layout, ReqCtx, Viewer, redirect_with_flash};
use crate::app::AppState;
use crate::error::AppResult;
use crate::services::api_keys;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/profile/api-key", post(generate_own))
        .route("/profile/api-key/revoke", post(revoke_own))
        .route("/admin/users/{id}/api-key", post(generate_for))
        .route("/admin/users/{id}/api-key/revoke", post(revoke_for))
}

/// One organization's key, as the partial shows it.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub organization_id: i64,
    pub organization_name: String,
    pub prefix: Option<String>,
    pub created_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// What `templates/api_keys.html` needs.
#[derive(Debug, Clone, Default)]
pub struct ApiKeySection {
    /// False when the viewer may not manage this user's key: the partial renders nothing.
    pub visible: bool,
    /// Where the forms post: `/profile/api-key` or `/admin/users/{id}/api-key`.
    pub action: String,
    pub rows: Vec<KeyRow>,
}

impl ApiKeySection {
    /// The section for `target_id` as `viewer` sees it on the user page (or, for
    /// oneself, on the profile with `own = true`).
    pub async fn load(state: &AppState, viewer: &Actor, target_id: i64, own: bool) -> AppResult<Self> {
        if target_id != viewer.user_id && !viewer.has(Permission::ManageApiKeys) {
            return Ok(ApiKeySection::default());
        }
        let slots = api_keys::slots(&state.store, viewer, target_id).await?;
        Ok(ApiKeySection {
            visible: true,
            action: if own {
                "/profile/api-key".to_owned()
            } else {
                format!("/admin/users/{target_id}/api-key")
            },
            rows: slots
                .into_iter()
                .map(|s| KeyRow {
                    organization_id: s.organization_id,
                    organization_name: s.organization_name,
                    prefix: s.key.as_ref().map(|k| k.key_prefix.clone()),
                    created_at: s.key.as_ref().map(|k| k.created_at),
                    last_used_at: s.key.as_ref().and_then(|k| k.last_used_at),
                })
                .collect(),
        })
    }
}

#[derive(Deserialize)]
struct KeyForm {
    #[serde(default)]
    organization_id: String,
}

impl KeyForm {
    fn organization(&self) -> Option<i64> {
        self.organization_id.trim().parse().ok()
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "api_key_created.html")]
struct CreatedPage {
    layout: Layout,
    username: String,
    organization: String,
    secret: String,
    back: String,
}

async fn generate_page(
    state: &AppState,
    layout: Layout,
    viewer: &Viewer,
    ctx: &crate::services::Ctx,
    target_id: i64,
    form: &KeyForm,
    back: String,
) -> Result<Response, PageError> {
    let new = api_keys::generate(&state.store, &viewer.actor, ctx, target_id, form.organization()).await?;
    let page = CreatedPage {
        layout,
        username: new.user.username,
        organization: new.organization_name,
        secret: new.secret,
        back,
    };
    let mut resp = page.into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

async fn generate_own(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Form(form): Form<KeyForm>,
) -> Result<Response, PageError> {
    let id = viewer.user.id;
    generate_page(&state, layout, &viewer, &ctx, id, &form, "/profile".to_owned()).await
}

async fn generate_for(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Path(id): Path<i64>,
    Form(form): Form<KeyForm>,
) -> Result<Response, PageError> {
    generate_page(&state, layout, &viewer, &ctx, id, &form, format!("/admin/users/{id}")).await
}

async fn revoke_own(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Form(form): Form<KeyForm>,
) -> Result<Response, PageError> {
    api_keys::revoke(&state.store, &viewer.actor, &ctx, viewer.user.id, form.organization()).await?;
    Ok(redirect_with_flash(&state, "/profile", "success", "API key revoked."))
}

async fn revoke_for(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Path(id): Path<i64>,
    Form(form): Form<KeyForm>,
) -> Result<Response, PageError> {
    api_keys::revoke(&state.store, &viewer.actor, &ctx, id, form.organization()).await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/admin/users/{id}"),
        "success",
        "API key revoked.",
    ))
}

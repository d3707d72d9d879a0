//! Sign-in and sign-out.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use muster_domain::Error as DomainError;
use muster_store::sessions;
use serde::Deserialize;

use super::PageError;
use super::session::{Layout, ReqCtx, SESSION_COOKIE, Viewer, cookie, set_cookie};
use crate::app::AppState;
use crate::clock;
use crate::crypto::{random_token, sha256_hex};
use crate::error::AppError;
use crate::services::auth::{SignIn, Source, sign_in};
use crate::settings::Settings;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    username: String,
    next: String,
    error: Option<String>,
    /// Setting `passkey_sign_in`: the page offers a passkey alone.
    passkey_sign_in: bool,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only a local path may be a redirect target (see [`super::redirect`]).
fn safe_next(next: Option<&str>) -> Option<String> {
    next.and_then(super::redirect::local_path)
}

async fn home(viewer: Option<Viewer>) -> Redirect {
    match viewer {
        Some(v) if v.actor.is_admin_of_any_kind() => Redirect::to("/admin/users"),
        Some(_) => Redirect::to("/profile"),
        None => Redirect::to("/login"),
    }
}

async fn login_form(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Option<Viewer>,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    if viewer.is_some() {
        return Ok(Redirect::to(&safe_next(q.next.as_deref()).unwrap_or_else(|| "/".into())).into_response());
    }
    Ok(LoginPage {
        layout,
        username: String::new(),
        next: safe_next(q.next.as_deref()).unwrap_or_default(),
        error: None,
        passkey_sign_in: passkey_sign_in(&state).await?,
    }
    .into_response())
}

async fn passkey_sign_in(state: &AppState) -> Result<bool, PageError> {
    Ok(crate::services::passkeys::sign_in_offered(&state.store, &state.config.public_url).await?)
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

async fn login(
    State(state): State<AppState>,
    layout: Layout,
    ReqCtx(ctx): ReqCtx,
    headers: axum::http::HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let result = sign_in(
        &state.store,
        &state.hasher,
        &state.dummy_hash,
        &form.username,
        &form.password,
        Source::Web,
        &ctx,
    )
    .await;
    let next = safe_next(Some(&form.next));
    let user = match result {
        Ok(SignIn::Done(u)) => u,
        Ok(SignIn::SecondStep(u, step)) => {
            return super::second_factor::to_second_step(&state, &u, step, next.as_deref()).await;
        }
        Err(AppError::Domain(DomainError::InvalidCredentials)) => {
            let page = LoginPage {
                layout,
                username: form.username.clone(),
                next: next.unwrap_or_default(),
                error: Some("Invalid username or password.".into()),
                passkey_sign_in: passkey_sign_in(&state).await?,
            };
            return Ok((axum::http::StatusCode::UNAUTHORIZED, page).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    start_session(&state, &headers, &ctx, &user, next.as_deref(), None).await
}

/// The session of a user who passed every step of the sign-in, and the
/// redirect to `next` (a checked local path) or their first page. `page`, if
/// given, is shown instead of the redirect (the recovery codes, once).
pub(super) async fn start_session(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    ctx: &crate::services::Ctx,
    user: &muster_store::users::User,
    next: Option<&str>,
    page: Option<Response>,
) -> Result<Response, PageError> {
    // A new session id at every sign-in; the one the browser had (if any) ends.
    let mut conn = state.store.conn().await?;
    if let Some(old) = cookie(headers, SESSION_COOKIE) {
        sessions::delete(&mut conn, &sha256_hex(old)).await?;
    }
    let token = random_token(32);
    let now = clock::now();
    let ttl = Settings::load(&mut conn).await?.session_ttl_ms();
    sessions::create(
        &mut conn,
        &sessions::Session {
            id_hash: sha256_hex(&token),
            user_id: user.id,
            csrf_token: random_token(32),
            created_at: now,
            expires_at: now + ttl,
        },
        &ctx.ip,
        &ctx.user_agent,
    )
    .await?;
    let to = first_page(user, next);
    let mut resp = page.unwrap_or_else(|| Redirect::to(&to).into_response());
    resp.headers_mut()
        .append(SET_COOKIE, set_cookie(state, SESSION_COOKIE, &token, None));
    Ok(resp)
}

/// Where a signed-in user goes first, for a page that links on.
pub(super) fn first_page(user: &muster_store::users::User, next: Option<&str>) -> String {
    let is_admin = user.roles.iter().any(|r| !r.permissions().is_empty());
    let default = if is_admin { "/admin" } else { "/profile" };
    next.map_or_else(|| default.to_owned(), str::to_owned)
}

async fn logout(
    State(state): State<AppState>,
    viewer: Option<Viewer>,
    headers: axum::http::HeaderMap,
) -> Result<Response, PageError> {
    if let Some(v) = viewer {
        let mut conn = state.store.conn().await?;
        sessions::delete(&mut conn, &v.session_hash).await?;
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut()
        .append(SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", Some(0)));
    super::second_factor::end_pending(&state, &headers, &mut resp).await?;
    Ok(resp)
}

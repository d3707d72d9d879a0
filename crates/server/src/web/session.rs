//! Sessions, CSRF and flash messages for the UI.
//!
//! The session cookie holds a random id; the database holds its SHA-256.
//! Signed-in forms carry the session's CSRF token; anonymous forms (sign-in,
//! forgot password) carry the token of a double-submit cookie, in the body
//! (url-encoded or multipart) or the `x-csrf-token` header, never in the URL.
//! The check runs in this middleware for every unsafe method, so no handler
//! can forget it.

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Multipart, Request, State};
use axum::http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use muster_domain::Actor;
use muster_store::users::User;
use muster_store::{sessions, users};
use std::net::SocketAddr;

use crate::app::AppState;
use crate::clock;
use crate::crypto::{constant_time_eq, random_token, sha256_hex};
use crate::services::Ctx;
use crate::services::auth::actor_for;
use crate::settings::Settings;

pub const SESSION_COOKIE: &str = "muster_session";
pub const CSRF_COOKIE: &str = "muster_csrf";
pub const FLASH_COOKIE: &str = "muster_flash";
const MAX_FORM_BYTES: usize = 2 * 1024 * 1024;

/// The signed-in user of this request.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub session_hash: String,
    pub csrf: String,
    pub user: User,
    pub actor: Actor,
}

/// The CSRF token forms of this request must carry.
#[derive(Clone, Debug)]
pub struct Csrf(pub String);

/// A flash message read from the cookie for this request.
#[derive(Clone, Debug, Default)]
pub struct Flash(pub Option<(String, String)>);

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if state.config.secure_cookies() {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

pub fn ctx_from(headers: &HeaderMap, addr: Option<SocketAddr>) -> Ctx {
    Ctx {
        ip: addr.map(|a| a.ip().to_string()).unwrap_or_default(),
        user_agent: headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(300)
            .collect(),
    }
}

async fn load_viewer(state: &AppState, token: &str) -> Result<Option<Viewer>, crate::error::AppError> {
    let hash = sha256_hex(token);
    let now = clock::now();
    let mut conn = state.store.conn().await?;
    let Some((s, last_seen_at)) = sessions::get_seen(&mut conn, &hash, now).await? else {
        return Ok(None);
    };
    let Some(user) = users::get(&mut conn, s.user_id).await? else {
        return Ok(None);
    };
    if !user.can_sign_in() {
        sessions::delete(&mut conn, &hash).await?;
        return Ok(None);
    }
    if sessions::touch_due(last_seen_at, now) {
        let ttl = Settings::load(&mut conn).await?.session_ttl_ms();
        sessions::touch(&mut conn, &hash, now, now + ttl).await?;
    }
    let actor = actor_for(&mut conn, &user).await?;
    Ok(Some(Viewer {
        session_hash: hash,
        csrf: s.csrf_token,
        user,
        actor,
    }))
}

fn is_unsafe(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The `csrf` field of a form body: url-encoded, or multipart (the import
/// form's upload, which puts it first).
async fn body_csrf(content_type: Option<&HeaderValue>, body: &Bytes) -> Option<String> {
    let ct = content_type?.to_str().ok()?;
    let mime = ct.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        form_field(body, "csrf")
    } else if mime.eq_ignore_ascii_case("multipart/form-data") {
        multipart_field(ct, body.clone(), "csrf").await
    } else {
        None
    }
}

/// The first field called `name` of a multipart body held in memory (parsed
/// by axum's multer, as the handler will parse it).
async fn multipart_field(content_type: &str, body: Bytes, name: &str) -> Option<String> {
    let req = Request::builder()
        .header(CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .ok()?;
    let mut multipart = Multipart::from_request(req, &()).await.ok()?;
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let headers = req.headers().clone();
    let viewer = match cookie(&headers, SESSION_COOKIE) {
        Some(token) => match load_viewer(&state, token).await {
            Ok(v) => v,
            Err(e) => return super::PageError(e).into_response(),
        },
        None => None,
    };
    let anon = cookie(&headers, CSRF_COOKIE)
        .filter(|t| t.len() >= 32)
        .map(str::to_owned);
    let mut new_anon = None;
    let expected = match (&viewer, &anon) {
        (Some(v), _) => v.csrf.clone(),
        (None, Some(a)) => a.clone(),
        (None, None) => {
            let t = random_token(32);
            new_anon = Some(t.clone());
            t
        }
    };
    let mut req = req;
    if is_unsafe(req.method()) {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
            return super::error::page(StatusCode::PAYLOAD_TOO_LARGE, "Too large", "The form is too large.");
        };
        // The token comes in the `x-csrf-token` header or in the body, never in the URL
        // (a URL ends up in logs, history and Referer headers).
        let given = match parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()) {
            Some(h) => Some(h.to_owned()),
            None => body_csrf(parts.headers.get(CONTENT_TYPE), &bytes).await,
        };
        if !given.is_some_and(|g| constant_time_eq(&g, &expected)) {
            return super::error::page(
                StatusCode::FORBIDDEN,
                "Form expired",
                "The form could not be verified (missing or stale security token). Reload the page and try again.",
            );
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    let flash = cookie(&headers, FLASH_COOKIE).and_then(decode_flash);
    let had_flash = flash.is_some();
    req.extensions_mut().insert(Csrf(expected));
    req.extensions_mut().insert(Flash(flash));
    if let Some(v) = viewer {
        req.extensions_mut().insert(v);
    }
    let mut resp = next.run(req).await;
    if let Some(t) = new_anon {
        resp.headers_mut()
            .append(SET_COOKIE, set_cookie(&state, CSRF_COOKIE, &t, None));
    }
    // A flash is shown once: cleared on the page that displays it, unless this response sets a new one.
    let sets_flash = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .any(|v| v.to_str().is_ok_and(|s| s.starts_with(FLASH_COOKIE)));
    if had_flash && !sets_flash {
        resp.headers_mut()
            .append(SET_COOKIE, set_cookie(&state, FLASH_COOKIE, "", Some(0)));
    }
    resp
}

fn decode_flash(raw: &str) -> Option<(String, String)> {
    let v: Vec<(String, String)> = serde_urlencoded::from_str(raw).ok()?;
    let kind = v.iter().find(|(k, _)| k == "k")?.1.clone();
    let msg = v.iter().find(|(k, _)| k == "m")?.1.clone();
    Some((kind, msg))
}

/// Redirect to `to` with a one-time message (`kind` is `success` or `error`).
pub fn redirect_with_flash(state: &AppState, to: &str, kind: &str, message: &str) -> Response {
    let value = serde_urlencoded::to_string([("k", kind), ("m", message)]).unwrap_or_default();
    let mut resp = Redirect::to(to).into_response();
    resp.headers_mut()
        .append(SET_COOKIE, set_cookie(state, FLASH_COOKIE, &value, Some(60)));
    resp
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Viewer>() {
            Some(v) => Ok(v.clone()),
            None => {
                let next = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let q = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
                Err(Redirect::to(&format!("/login?{q}")).into_response())
            }
        }
    }
}

/// The data every page's layout needs.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    pub csrf: String,
    pub username: Option<String>,
    pub user_id: i64,
    pub is_admin: bool,
    pub can_settings: bool,
    pub can_audit: bool,
    pub can_export: bool,
    pub flash: Option<(String, String)>,
}

impl<S: Send + Sync> FromRequestParts<S> for Layout {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let csrf = parts.extensions.get::<Csrf>().map(|c| c.0.clone()).unwrap_or_default();
        let flash = parts.extensions.get::<Flash>().and_then(|f| f.0.clone());
        let viewer = parts.extensions.get::<Viewer>();
        use muster_domain::Permission as P;
        Ok(Layout {
            csrf,
            username: viewer.map(|v| v.user.username.clone()),
            user_id: viewer.map_or(0, |v| v.user.id),
            is_admin: viewer.is_some_and(|v| v.actor.is_admin_of_any_kind()),
            can_settings: viewer.is_some_and(|v| v.actor.has(P::ManageSettings)),
            can_audit: viewer.is_some_and(|v| v.actor.has(P::ViewAudit)),
            can_export: viewer.is_some_and(|v| v.actor.has(P::ExportUsers)),
            flash,
        })
    }
}

/// The request's origin for services.
pub struct ReqCtx(pub Ctx);

impl<S: Send + Sync> FromRequestParts<S> for ReqCtx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        Ok(ReqCtx(ctx_from(&parts.headers, addr)))
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Viewer>().cloned())
    }
}

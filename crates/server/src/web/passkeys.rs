//! The passkey endpoints `static/passkeys.js` talks to: each ceremony is an
//! `…/options` POST (the JSON for `navigator.credentials.create/get`) and a
//! POST of the browser's answer. Both carry the CSRF token in `x-csrf-token`.
//! Answers are JSON: `{"redirect": …}` on success, `{"error": …}` with a 4xx
//! otherwise (a missing, used or expired ceremony and a malformed answer are
//! 400, never 500).

use axum::extract::{Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use muster_domain::Error as DomainError;
use serde::Deserialize;
use serde_json::json;

use super::PageError;
use super::second_factor::{PENDING_COOKIE, clear_pending};
use super::session::{ReqCtx, Viewer, cookie, redirect_with_flash, set_cookie};
use crate::app::AppState;
use crate::crypto::random_token;
use crate::error::AppError;
use crate::services::passkeys::{self as service, PasskeyStep, Refused};
use crate::services::second_factor::{CodeRefused, STAGE_CODE, STAGE_ENROL};

/// The anonymous cookie a passkey-only sign-in's ceremony is bound to.
const BROWSER_COOKIE: &str = "muster_passkey";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/profile/passkeys/options", post(register_options))
        .route("/profile/passkeys", post(register_finish))
        .route("/profile/passkeys/{id}/remove", post(remove))
        .route("/login/enrol/passkey/options", post(enrol_options))
        .route("/login/enrol/passkey", post(enrol_finish))
        .route("/login/passkey/options", post(second_step_options))
        .route("/login/passkey", post(second_step_finish))
        .route("/login/passkey-only/options", post(sign_in_options))
        .route("/login/passkey-only", post(sign_in_finish))
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// A refusal as JSON; `rejected` is the status of an answer that did not verify.
fn refused(e: Refused, rejected: StatusCode) -> Result<Response, PageError> {
    Ok(match e {
        Refused::NoCeremony => error(
            StatusCode::BAD_REQUEST,
            "No passkey request is waiting for this answer (it was used or it expired): try again.",
        ),
        Refused::Malformed(why) => error(StatusCode::BAD_REQUEST, &format!("Passkey refused: {why}.")),
        Refused::Rejected => error(rejected, "The passkey could not be verified."),
        Refused::Unavailable(why) => error(StatusCode::CONFLICT, &format!("Passkeys are not available: {why}.")),
        Refused::App(AppError::Domain(DomainError::InvalidCredentials)) => {
            error(StatusCode::UNAUTHORIZED, "Invalid username or password.")
        }
        Refused::App(e) => return Err(e.into()),
    })
}

fn redirect_json(to: &str) -> Response {
    Json(json!({ "redirect": to })).into_response()
}

// ---- profile ------------------------------------------------------------------------------

async fn register_options(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    match service::start_registration(
        &state.store,
        &state.config.public_url,
        &viewer.session_hash,
        &viewer.user,
    )
    .await
    {
        Ok(options) => Ok(Json(options).into_response()),
        Err(e) => refused(e, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

#[derive(Deserialize)]
struct RegisterBody {
    #[serde(default)]
    name: String,
    credential: serde_json::Value,
}

async fn register_finish(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    body: String,
) -> Result<Response, PageError> {
    let Ok(body) = serde_json::from_str::<RegisterBody>(&body) else {
        return refused(
            Refused::Malformed("expected {\"name\": …, \"credential\": …}".into()),
            StatusCode::BAD_REQUEST,
        );
    };
    let answer = body.credential.to_string();
    let url = &state.config.public_url;
    match service::finish_registration(
        &state.store,
        url,
        &ctx,
        &viewer.session_hash,
        &viewer.user,
        &body.name,
        &answer,
    )
    .await
    {
        Ok(added) => {
            let message = format!("Passkey \u{201c}{}\u{201d} added.", added.name);
            let mut resp = redirect_json("/profile");
            // the flash cookie of a redirect, for the page the script goes to
            if let Some(c) = redirect_with_flash(&state, "/profile", "success", &message)
                .headers()
                .get(SET_COOKIE)
            {
                resp.headers_mut().append(SET_COOKIE, c.clone());
            }
            Ok(resp)
        }
        Err(e) => refused(e, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

async fn remove(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let removed = service::remove(&state.store, &ctx, &viewer.user, id).await?;
    Ok(redirect_with_flash(
        &state,
        "/profile",
        "success",
        &format!("Passkey \u{201c}{}\u{201d} removed.", removed.name),
    ))
}

// ---- the second step ----------------------------------------------------------------------

#[derive(Deserialize)]
struct AnswerBody {
    credential: serde_json::Value,
}

fn answer_of(body: &str) -> Option<String> {
    serde_json::from_str::<AnswerBody>(body)
        .ok()
        .map(|b| b.credential.to_string())
}

const NOT_AN_ANSWER: &str = "expected {\"credential\": …}";

/// This browser's pending sign-in at the code step, or a JSON answer sending it to sign in again.
async fn pending_code(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Result<(String, muster_store::second_factor::Pending, muster_store::users::User), Response>, PageError> {
    pending_json(state, headers, STAGE_CODE).await
}

/// This browser's pending sign-in at `stage`, or a JSON answer sending it to sign in again.
async fn pending_json(
    state: &AppState,
    headers: &HeaderMap,
    stage: &str,
) -> Result<Result<(String, muster_store::second_factor::Pending, muster_store::users::User), Response>, PageError> {
    let expired = || error(StatusCode::UNAUTHORIZED, "Your sign-in expired. Sign in again.");
    let Some(token) = cookie(headers, PENDING_COOKIE) else {
        return Ok(Err(expired()));
    };
    match crate::services::second_factor::pending(&state.store, token).await? {
        Some((p, u)) if p.stage == stage => Ok(Ok((token.to_owned(), p, u))),
        _ => Ok(Err(expired())),
    }
}

async fn second_step_options(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    let (token, _, user) = match pending_code(&state, &headers).await? {
        Ok(found) => found,
        Err(resp) => return Ok(resp),
    };
    match service::start_second_step(&state.store, &state.config.public_url, &token, &user).await {
        Ok(options) => Ok(Json(options).into_response()),
        Err(e) => refused(e, StatusCode::UNAUTHORIZED),
    }
}

async fn second_step_finish(
    State(state): State<AppState>,
    ReqCtx(ctx): ReqCtx,
    headers: HeaderMap,
    body: String,
) -> Result<Response, PageError> {
    let (token, p, user) = match pending_code(&state, &headers).await? {
        Ok(found) => found,
        Err(resp) => return Ok(resp),
    };
    let Some(answer) = answer_of(&body) else {
        return refused(Refused::Malformed(NOT_AN_ANSWER.into()), StatusCode::BAD_REQUEST);
    };
    let url = &state.config.public_url;
    match service::finish_second_step(&state.store, url, &ctx, &p, &token, &user, &answer).await {
        Ok(user) => {
            let next = (!p.next.is_empty()).then_some(p.next.as_str());
            let to = super::auth::first_page(&user, next);
            let mut resp =
                super::auth::start_session(&state, &headers, &ctx, &user, next, Some(redirect_json(&to))).await?;
            clear_pending(&state, &mut resp);
            Ok(resp)
        }
        Err(PasskeyStep::Code(CodeRefused::Wrong)) => Ok(error(
            StatusCode::UNAUTHORIZED,
            "The passkey was not accepted. Try again or enter a code.",
        )),
        // the same words as a wrong code: a locked account is not told apart
        Err(PasskeyStep::Code(CodeRefused::Ended)) => {
            let mut resp = (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "The passkey was not accepted. Sign in again.", "redirect": "/login"})),
            )
                .into_response();
            clear_pending(&state, &mut resp);
            Ok(resp)
        }
        Err(PasskeyStep::Code(CodeRefused::App(e))) => Err(e.into()),
        Err(PasskeyStep::Answer(e)) => refused(e, StatusCode::UNAUTHORIZED),
    }
}

// ---- enrolment during sign-in (a role that requires a factor) ---------------------------

async fn enrol_options(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    let (token, _, user) = match pending_json(&state, &headers, STAGE_ENROL).await? {
        Ok(found) => found,
        Err(resp) => return Ok(resp),
    };
    match service::start_registration(&state.store, &state.config.public_url, &token, &user).await {
        Ok(options) => Ok(Json(options).into_response()),
        Err(e) => refused(e, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

async fn enrol_finish(
    State(state): State<AppState>,
    ReqCtx(ctx): ReqCtx,
    headers: HeaderMap,
    body: String,
) -> Result<Response, PageError> {
    let (token, p, user) = match pending_json(&state, &headers, STAGE_ENROL).await? {
        Ok(found) => found,
        Err(resp) => return Ok(resp),
    };
    let Ok(body) = serde_json::from_str::<RegisterBody>(&body) else {
        return refused(
            Refused::Malformed("expected {\"name\": …, \"credential\": …}".into()),
            StatusCode::BAD_REQUEST,
        );
    };
    let answer = body.credential.to_string();
    let url = &state.config.public_url;
    match service::finish_pending_registration(&state.store, url, &ctx, &p, &token, &user, &body.name, &answer).await {
        Ok(user) => {
            let next = (!p.next.is_empty()).then_some(p.next.as_str());
            let to = super::auth::first_page(&user, next);
            let mut resp =
                super::auth::start_session(&state, &headers, &ctx, &user, next, Some(redirect_json(&to))).await?;
            clear_pending(&state, &mut resp);
            Ok(resp)
        }
        Err(e) => refused(e, StatusCode::UNPROCESSABLE_ENTITY),
    }
}

// ---- a passkey alone ----------------------------------------------------------------------

async fn sign_in_options(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    let (browser, fresh) = match cookie(&headers, BROWSER_COOKIE).filter(|t| t.len() >= 32) {
        Some(t) => (t.to_owned(), false),
        None => (random_token(32), true),
    };
    let mut resp = match service::start_sign_in(&state.store, &state.config.public_url, &browser).await {
        Ok(options) => Json(options).into_response(),
        Err(e) => return refused(e, StatusCode::UNAUTHORIZED),
    };
    if fresh {
        let ttl = service::CEREMONY_TTL_MS / 1000;
        resp.headers_mut()
            .append(SET_COOKIE, set_cookie(&state, BROWSER_COOKIE, &browser, Some(ttl)));
    }
    Ok(resp)
}

async fn sign_in_finish(
    State(state): State<AppState>,
    ReqCtx(ctx): ReqCtx,
    headers: HeaderMap,
    body: String,
) -> Result<Response, PageError> {
    let Some(browser) = cookie(&headers, BROWSER_COOKIE) else {
        return refused(Refused::NoCeremony, StatusCode::UNAUTHORIZED);
    };
    let Some(answer) = answer_of(&body) else {
        return refused(Refused::Malformed(NOT_AN_ANSWER.into()), StatusCode::BAD_REQUEST);
    };
    match service::finish_sign_in(&state.store, &state.config.public_url, &ctx, browser, &answer).await {
        Ok(user) => {
            let to = super::auth::first_page(&user, None);
            let mut resp =
                super::auth::start_session(&state, &headers, &ctx, &user, None, Some(redirect_json(&to))).await?;
            resp.headers_mut()
                .append(SET_COOKIE, set_cookie(&state, BROWSER_COOKIE, "", Some(0)));
            Ok(resp)
        }
        Err(e) => refused(e, StatusCode::UNAUTHORIZED),
    }
}

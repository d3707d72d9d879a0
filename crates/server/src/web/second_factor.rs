//! The second factor's pages: the code step of a sign-in, enrolment during
//! sign-in (when the role requires a factor), enrolment on the profile, and
//! the administrator's *Reset two-factor*.
//!
//! Between the password and the code there is no session: a pending sign-in
//! row (see `services::second_factor`) bound to the `muster_pending` cookie.
//! Its forms are anonymous forms, so they carry the double-submit CSRF token.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use muster_domain::Error as DomainError;
use muster_domain::permission::perm;
use muster_domain::second_factor::AfterPassword;
use muster_store::second_factor::Pending;
use muster_store::users::User;
use serde::Deserialize;

use super::PageError;
use super::session::{Layout, ReqCtx, Viewer, cookie, redirect_with_flash, set_cookie};
use crate::app::AppState;
use crate::error::AppError;
use crate::services::second_factor::{self as service, CodeRefused, Enrolment, STAGE_CODE, STAGE_ENROL};

pub const PENDING_COOKIE: &str = "muster_pending";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/code", get(code_form).post(code_submit))
        .route("/login/enrol", get(pending_enrol_form).post(pending_enrol_submit))
        .route("/login/cancel", post(cancel))
        .route("/profile/two-factor", get(own_enrol_form).post(own_enrol_submit))
        .route(
            "/admin/users/{id}/two-factor/reset",
            get(reset_confirm).post(reset_submit),
        )
}

/// After the right password: start the pending sign-in and send the browser
/// to its step. `next` is a checked local path.
pub(super) async fn to_second_step(
    state: &AppState,
    user: &User,
    step: AfterPassword,
    next: Option<&str>,
) -> Result<Response, PageError> {
    let token = service::begin_pending(&state.store, user, step, next.unwrap_or("")).await?;
    let (to, ttl) = match step {
        AfterPassword::Enrol => ("/login/enrol", service::ENROL_TTL_MS),
        _ => ("/login/code", service::CODE_TTL_MS),
    };
    let mut resp = Redirect::to(to).into_response();
    resp.headers_mut()
        .append(SET_COOKIE, set_cookie(state, PENDING_COOKIE, &token, Some(ttl / 1000)));
    Ok(resp)
}

/// Drop the pending sign-in of this browser, if any, and its cookie (sign-out, cancel).
pub(super) async fn end_pending(state: &AppState, headers: &HeaderMap, resp: &mut Response) -> Result<(), PageError> {
    if let Some(token) = cookie(headers, PENDING_COOKIE) {
        service::cancel(&state.store, token).await?;
        clear_pending(state, resp);
    }
    Ok(())
}

/// The pending sign-in of this request at `stage`, or where to go instead.
pub(super) async fn pending_at(
    state: &AppState,
    headers: &HeaderMap,
    stage: &str,
) -> Result<Result<(Pending, User), Response>, PageError> {
    let Some(token) = cookie(headers, PENDING_COOKIE) else {
        return Ok(Err(Redirect::to("/login").into_response()));
    };
    match service::pending(&state.store, token).await? {
        Some((p, u)) if p.stage == stage => Ok(Ok((p, u))),
        Some((p, _)) if p.stage == STAGE_CODE => Ok(Err(Redirect::to("/login/code").into_response())),
        Some(_) => Ok(Err(Redirect::to("/login/enrol").into_response())),
        None => Ok(Err(redirect_with_flash(
            state,
            "/login",
            "error",
            "Your sign-in expired. Sign in again.",
        ))),
    }
}

/// Drop the `muster_pending` cookie with this response.
pub(super) fn clear_pending(state: &AppState, resp: &mut Response) {
    resp.headers_mut()
        .append(SET_COOKIE, set_cookie(state, PENDING_COOKIE, "", Some(0)));
}

#[derive(Template, WebTemplate)]
#[template(path = "second_factor/code.html")]
struct CodePage {
    layout: Layout,
    error: Option<String>,
    /// The user has an authenticator app (else only recovery codes are typed).
    totp: bool,
    /// The user has a passkey: the page offers it beside the code.
    passkey: bool,
}

impl CodePage {
    async fn of(state: &AppState, layout: Layout, user: &User, error: Option<String>) -> Result<Self, PageError> {
        let ways = service::ways(&state.store, &state.config.public_url, user.id).await?;
        Ok(CodePage {
            layout,
            error,
            totp: ways.totp,
            passkey: ways.passkey,
        })
    }
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
}

async fn code_form(State(state): State<AppState>, layout: Layout, headers: HeaderMap) -> Result<Response, PageError> {
    Ok(match pending_at(&state, &headers, STAGE_CODE).await? {
        Ok((_, user)) => CodePage::of(&state, layout, &user, None).await?.into_response(),
        Err(to) => to,
    })
}

async fn code_submit(
    State(state): State<AppState>,
    layout: Layout,
    ReqCtx(ctx): ReqCtx,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let (p, user) = match pending_at(&state, &headers, STAGE_CODE).await? {
        Ok(found) => found,
        Err(to) => return Ok(to),
    };
    match service::verify_code(&state.store, &ctx, &p, &user, form.code.trim()).await {
        Ok(user) => {
            let next = (!p.next.is_empty()).then_some(p.next.as_str());
            let mut resp = super::auth::start_session(&state, &headers, &ctx, &user, next, None).await?;
            clear_pending(&state, &mut resp);
            Ok(resp)
        }
        Err(CodeRefused::Wrong) => Ok((
            StatusCode::UNAUTHORIZED,
            CodePage::of(&state, layout, &user, Some("Invalid code.".into())).await?,
        )
            .into_response()),
        // the same words as a wrong password: a locked account is not told apart
        Err(CodeRefused::Ended) => {
            let mut resp = redirect_with_flash(&state, "/login", "error", "Invalid code. Sign in again.");
            clear_pending(&state, &mut resp);
            Ok(resp)
        }
        Err(CodeRefused::App(e)) => Err(e.into()),
    }
}

async fn cancel(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    let mut resp = Redirect::to("/login").into_response();
    end_pending(&state, &headers, &mut resp).await?;
    Ok(resp)
}

#[derive(Template, WebTemplate)]
#[template(path = "second_factor/enrol.html")]
struct EnrolPage {
    layout: Layout,
    enrolment: Enrolment,
    /// Where the form posts: `/profile/two-factor` or `/login/enrol`.
    action: &'static str,
    /// During sign-in: the role requires a factor before any page.
    during_sign_in: bool,
    /// During sign-in, a passkey may be registered instead (`web::passkeys`).
    passkey: bool,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "second_factor/recovery_codes.html")]
struct RecoveryCodesPage {
    layout: Layout,
    codes: Vec<String>,
    continue_to: String,
}

/// A wrong first code: the same page again, with the same secret and the reason.
fn enrol_error(e: AppError, page: EnrolPage) -> Result<Response, PageError> {
    match e {
        AppError::Domain(DomainError::Invalid(errors)) => {
            let message = errors.first().map(|e| e.message.clone()).unwrap_or_default();
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                EnrolPage {
                    error: Some(format!("Invalid code: {message}.")),
                    ..page
                },
            )
                .into_response())
        }
        e => Err(e.into()),
    }
}

async fn pending_enrol_form(
    State(state): State<AppState>,
    layout: Layout,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let (_, user) = match pending_at(&state, &headers, STAGE_ENROL).await? {
        Ok(found) => found,
        Err(to) => return Ok(to),
    };
    Ok(EnrolPage {
        layout,
        enrolment: service::enrolment(&state.store, &user).await?,
        action: "/login/enrol",
        during_sign_in: true,
        passkey: crate::services::passkeys::available(&state.config.public_url),
        error: None,
    }
    .into_response())
}

async fn pending_enrol_submit(
    State(state): State<AppState>,
    layout: Layout,
    ReqCtx(ctx): ReqCtx,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let (p, user) = match pending_at(&state, &headers, STAGE_ENROL).await? {
        Ok(found) => found,
        Err(to) => return Ok(to),
    };
    match service::confirm_pending(&state.store, &ctx, &p, &user, &form.code).await {
        Ok((user, codes)) => {
            let next = (!p.next.is_empty()).then_some(p.next.as_str());
            let page = RecoveryCodesPage {
                layout,
                codes,
                continue_to: super::auth::first_page(&user, next),
            }
            .into_response();
            let mut resp = super::auth::start_session(&state, &headers, &ctx, &user, next, Some(page)).await?;
            clear_pending(&state, &mut resp);
            Ok(resp)
        }
        Err(e) => {
            let enrolment = service::enrolment(&state.store, &user).await?;
            enrol_error(
                e,
                EnrolPage {
                    layout,
                    enrolment,
                    action: "/login/enrol",
                    during_sign_in: true,
                    passkey: crate::services::passkeys::available(&state.config.public_url),
                    error: None,
                },
            )
        }
    }
}

async fn own_enrol_form(State(state): State<AppState>, layout: Layout, viewer: Viewer) -> Result<Response, PageError> {
    if service::ways(&state.store, &state.config.public_url, viewer.user.id)
        .await?
        .totp
    {
        return Ok(redirect_with_flash(
            &state,
            "/profile",
            "success",
            "Two-factor sign-in is already set up.",
        ));
    }
    Ok(EnrolPage {
        layout,
        enrolment: service::enrolment(&state.store, &viewer.user).await?,
        action: "/profile/two-factor",
        during_sign_in: false,
        passkey: false,
        error: None,
    }
    .into_response())
}

async fn own_enrol_submit(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    match service::confirm(&state.store, &ctx, &viewer.user, &form.code).await {
        Ok(codes) => Ok(RecoveryCodesPage {
            layout,
            codes,
            continue_to: "/profile".into(),
        }
        .into_response()),
        Err(e) => {
            let enrolment = service::enrolment(&state.store, &viewer.user).await?;
            enrol_error(
                e,
                EnrolPage {
                    layout,
                    enrolment,
                    action: "/profile/two-factor",
                    during_sign_in: false,
                    passkey: false,
                    error: None,
                },
            )
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "second_factor/reset_confirm.html")]
struct ResetConfirmPage {
    layout: Layout,
    user: User,
}

async fn reset_confirm(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<ResetConfirmPage, PageError> {
    let grant = viewer.actor.allow::<perm::ResetPasswords>()?;
    let user =
        crate::services::users::get_for(&state.store, &grant, muster_domain::Action::ResetSecondFactor, id).await?;
    Ok(ResetConfirmPage { layout, user })
}

async fn reset_submit(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::ResetPasswords>()?;
    let to = format!("/admin/users/{id}");
    match service::reset(&state.store, &grant, &ctx, id).await {
        Ok(user) => Ok(redirect_with_flash(
            &state,
            &to,
            "success",
            &format!(
                "The two-factor sign-in of {} was reset; they were sent an email.",
                user.username
            ),
        )),
        Err(AppError::Domain(DomainError::Refused(why))) => Ok(redirect_with_flash(&state, &to, "error", &why)),
        Err(e) => Err(e.into()),
    }
}

//! Password pages: Change Password (an administrator's, and one's own on
//! the profile), Reset Password for one user and as a mass action, forgot
//! password and the reset link.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, REFERRER_POLICY};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use muster_domain::permission::perm;
use muster_domain::{Error as DomainError, FieldError, PasswordPolicy, Selection, UserFilter};
use muster_store::users::User;
use serde::Deserialize;

use super::PageError;
use super::session::{Layout, ReqCtx, Viewer, redirect_with_flash};
use crate::app::AppState;
use crate::error::AppError;
use crate::services::passwords::{self, CompleteError};
use crate::settings::Settings;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/password-suggestion", get(suggestion))
        .route("/admin/users/{id}/password", get(admin_form).post(admin_change))
        .route("/admin/users/{id}/reset-password", post(admin_reset))
        .route("/admin/users/mass/reset-password", get(mass_confirm).post(mass_reset))
        .route("/profile/password", get(own_form).post(own_change))
        .route("/forgot-password", get(forgot_form).post(forgot))
        .route("/reset-password", get(reset_form).post(reset))
}

/// The Change Password dialog (`templates/partials/change_password_dialog.html`):
/// a page that includes the partial has a field `pw` of this type.
#[derive(Debug, Clone)]
pub struct PasswordDialog {
    pub action: String,
    pub csrf: String,
    pub next: String,
    /// Whose password, in words.
    pub subject: String,
    pub require_current: bool,
    /// Open when the page loads (after a refused attempt).
    pub open: bool,
    pub errors: Vec<String>,
    pub hint: String,
    pub max_length: usize,
}

impl PasswordDialog {
    /// An administrator changes `user`'s password.
    pub fn for_user(csrf: &str, user: &User, policy: &PasswordPolicy) -> Self {
        PasswordDialog {
            action: format!("/admin/users/{}/password", user.id),
            csrf: csrf.to_owned(),
            next: format!("/admin/users/{}", user.id),
            subject: format!("{} ({})", user.full_name(), user.username),
            require_current: false,
            open: false,
            errors: Vec::new(),
            hint: policy_hint(policy),
            max_length: policy.max_length,
        }
    }

    /// The signed-in user changes their own password.
    pub fn for_self(csrf: &str, policy: &PasswordPolicy) -> Self {
        PasswordDialog {
            action: "/profile/password".to_owned(),
            csrf: csrf.to_owned(),
            next: "/profile".to_owned(),
            subject: "Your own password. Your other sessions will end.".to_owned(),
            require_current: true,
            open: false,
            errors: Vec::new(),
            hint: policy_hint(policy),
            max_length: policy.max_length,
        }
    }
}

/// The policy in one sentence, shown under the field.
pub fn policy_hint(p: &PasswordPolicy) -> String {
    let mut parts = vec![format!("{} to {} characters", p.min_length, p.max_length)];
    let classes = [
        (p.require_lowercase, "a lowercase letter"),
        (p.require_uppercase, "an uppercase letter"),
        (p.require_digit, "a digit"),
        (p.require_special, "a special character"),
    ];
    for (on, what) in classes {
        if on {
            parts.push(what.to_owned());
        }
    }
    let mut s = parts.join(", ");
    if p.min_score > 0 {
        s.push_str("; hard to guess");
    }
    s.push_str("; not your name or email.");
    format!("{}{}", s[..1].to_uppercase(), &s[1..])
}

/// Field errors as sentences: "New password must be at least 12 characters (it has 5)".
fn sentences(errors: &[FieldError]) -> Vec<String> {
    errors
        .iter()
        .map(|e| {
            let label = match e.field.as_str() {
                "password" => "New password",
                "current_password" => "Current password",
                "" => "",
                other => other,
            };
            if label.is_empty() {
                e.message.clone()
            } else {
                format!("{label} {}", e.message)
            }
        })
        .collect()
}

fn safe_next(next: Option<&str>, default: String) -> String {
    next.and_then(super::redirect::local_path).unwrap_or(default)
}

async fn policy(state: &AppState) -> Result<PasswordPolicy, PageError> {
    Ok(Settings::load(&mut *state.store.conn().await?).await?.password_policy())
}

/// The header the reset page's Suggest Password sends its link's token in
/// (a header, not the URL: the token must not reach logs or a Referer).
const RESET_TOKEN_HEADER: &str = "x-reset-token";

/// A random password from the OS random source that meets the policy: for a
/// signed-in user, or on the reset page with a live reset link; anyone else
/// gets 401.
async fn suggestion(
    State(state): State<AppState>,
    viewer: Option<Viewer>,
    headers: axum::http::HeaderMap,
) -> Result<Response, PageError> {
    let allowed = match (&viewer, headers.get(RESET_TOKEN_HEADER).and_then(|v| v.to_str().ok())) {
        (Some(_), _) => true,
        (None, Some(token)) if !token.is_empty() => passwords::check_token(state.deps(), token).await?.is_some(),
        (None, _) => false,
    };
    if !allowed {
        return Ok((
            StatusCode::UNAUTHORIZED,
            [(CACHE_CONTROL, "no-store")],
            Json(serde_json::json!({
                "error": "Sign in, or open a valid password reset link, to get a suggested password."
            })),
        )
            .into_response());
    }
    let policy = policy(&state).await?;
    let password = crate::crypto::suggest_password(&policy);
    Ok((
        [(CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "password": password })),
    )
        .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "passwords/change.html")]
struct ChangePage {
    layout: Layout,
    title: String,
    pw: PasswordDialog,
    status: Option<&'static str>,
    reset_action: Option<String>,
}

async fn admin_page(state: &AppState, layout: Layout, viewer: &Viewer, id: i64) -> Result<ChangePage, PageError> {
    let grant = viewer.actor.allow::<perm::ViewUsers>()?;
    let user = crate::services::users::get(&state.store, &grant, id).await?;
    let mut pw = PasswordDialog::for_user(&layout.csrf, &user, &policy(state).await?);
    // this page stands alone (until the user page includes the dialog): come back to it
    pw.next = format!("/admin/users/{id}/password");
    Ok(ChangePage {
        title: format!("Change Password: {}", user.username),
        pw,
        status: Some(user.auth_status.label()),
        reset_action: crate::services::users::may(&viewer.actor, muster_domain::Action::ResetPassword, &user)
            .then(|| format!("/admin/users/{id}/reset-password")),
        layout,
    })
}

async fn admin_form(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<ChangePage, PageError> {
    let grant = viewer.actor.allow::<perm::SetPasswords>()?;
    // the page is refused as the change itself would be (an administrator, oneself)
    crate::services::users::get_for(&state.store, &grant, muster_domain::Action::SetPassword, id).await?;
    admin_page(&state, layout, &viewer, id).await
}

#[derive(Deserialize)]
struct ChangeForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    current_password: String,
    next: Option<String>,
}

async fn admin_change(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Path(id): Path<i64>,
    Form(form): Form<ChangeForm>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::SetPasswords>()?;
    match passwords::set_password(state.deps(), &grant, &ctx, id, &form.password).await {
        Ok(user) => Ok(redirect_with_flash(
            &state,
            &safe_next(form.next.as_deref(), format!("/admin/users/{id}")),
            "success",
            &format!(
                "Password changed. {} was signed out everywhere and told by email.",
                user.username
            ),
        )),
        Err(AppError::Domain(DomainError::Invalid(errors))) => {
            let mut page = admin_page(&state, layout, &viewer, id).await?;
            page.pw.open = true;
            page.pw.errors = sentences(&errors);
            if let Some(n) = form.next.as_deref() {
                page.pw.next = safe_next(Some(n), page.pw.next);
            }
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct NextForm {
    next: Option<String>,
    /// The grid's row menu says `back`: it lands on the grid it came from.
    back: Option<String>,
}

async fn admin_reset(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Path(id): Path<i64>,
    Form(form): Form<NextForm>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::ResetPasswords>()?;
    let user = passwords::reset_password(state.deps(), &grant, &ctx, id).await?;
    Ok(redirect_with_flash(
        &state,
        &safe_next(
            form.back.as_deref().or(form.next.as_deref()),
            format!("/admin/users/{id}"),
        ),
        "success",
        &format!(
            "Password reset: {} cannot sign in until they set a new password with the link emailed to {}.",
            user.username, user.email
        ),
    ))
}

/// The mass action's users from form fields: `ids` (repeated), or
/// `all_matching=1` with the grid's selection in its query syntax (read by
/// the domain's one parser of it, as the grid reads it).
fn selection(fields: &[(String, String)]) -> Result<UserFilter, AppError> {
    let all_matching = fields.iter().any(|(k, v)| k == "all_matching" && v.trim() == "1");
    if all_matching {
        return Ok(Selection::from_query(fields).0.filter);
    }
    let mut ids = Vec::new();
    for (k, v) in fields.iter().filter(|(k, v)| k == "ids" && !v.trim().is_empty()) {
        let id = v
            .trim()
            .parse()
            .map_err(|_| DomainError::invalid(k, format!("{v:?} is not a user id")))?;
        ids.push(id);
    }
    if ids.is_empty() {
        return Err(DomainError::invalid("ids", "select at least one user").into());
    }
    Ok(UserFilter {
        only_ids: Some(ids),
        ..Default::default()
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "passwords/mass_confirm.html")]
struct MassConfirmPage {
    layout: Layout,
    fields: Vec<(String, String)>,
    users: Vec<User>,
    count: i64,
}

/// A confirm page for a selection given in the query (`?ids=1&ids=2` or
/// `?all_matching=1&view=…`), with the dialog and its **Reset** button.
async fn mass_confirm(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    Query(fields): Query<Vec<(String, String)>>,
) -> Result<MassConfirmPage, PageError> {
    viewer.actor.allow::<perm::ResetPasswords>()?;
    let view = viewer.actor.allow::<perm::ViewUsers>()?;
    let filter = selection(&fields)?;
    let page =
        crate::services::users::list(&state.store, &view, &filter, &muster_domain::UserSort::default(), 1, 50).await?;
    Ok(MassConfirmPage {
        layout,
        fields: fields.into_iter().filter(|(k, _)| k != "csrf").collect(),
        users: page.users,
        count: page.total,
    })
}

async fn mass_reset(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::ResetPasswords>()?;
    let filter = selection(&fields)?;
    let described: Vec<&(String, String)> = fields.iter().filter(|(k, _)| k != "csrf" && k != "next").collect();
    let described = serde_json::json!({ "form": described });
    let asked = crate::services::mass_reset::request(&state.store, &grant, &ctx, &filter, described).await?;
    Ok(super::users_mass::started(&state, &asked))
}

async fn own_page(state: &AppState, layout: Layout) -> Result<ChangePage, PageError> {
    let pw = PasswordDialog::for_self(&layout.csrf, &policy(state).await?);
    Ok(ChangePage {
        title: "Change your password".to_owned(),
        pw,
        status: None,
        reset_action: None,
        layout,
    })
}

async fn own_form(State(state): State<AppState>, layout: Layout, _viewer: Viewer) -> Result<ChangePage, PageError> {
    let mut page = own_page(&state, layout).await?;
    page.pw.open = true;
    Ok(page)
}

async fn own_change(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Form(form): Form<ChangeForm>,
) -> Result<Response, PageError> {
    let result = passwords::change_own_password(
        state.deps(),
        &ctx,
        viewer.user.id,
        &form.current_password,
        &form.password,
        &viewer.session_hash,
    )
    .await;
    match result {
        Ok(_) => Ok(redirect_with_flash(
            &state,
            "/profile",
            "success",
            "Your password was changed. Your other sessions were signed out.",
        )),
        Err(AppError::Domain(DomainError::Invalid(errors))) => {
            let mut page = own_page(&state, layout).await?;
            page.pw.open = true;
            page.pw.errors = sentences(&errors);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "passwords/forgot.html")]
struct ForgotPage {
    layout: Layout,
    sent: bool,
    ttl: String,
    error: Option<String>,
}

async fn forgot_form(layout: Layout) -> ForgotPage {
    ForgotPage {
        layout,
        sent: false,
        ttl: String::new(),
        error: None,
    }
}

#[derive(Deserialize)]
struct ForgotForm {
    #[serde(default)]
    login: String,
}

async fn forgot(
    State(state): State<AppState>,
    layout: Layout,
    ReqCtx(ctx): ReqCtx,
    Form(form): Form<ForgotForm>,
) -> Result<Response, PageError> {
    match passwords::forgot_password(state.deps(), &ctx, &form.login).await {
        Ok(()) => {
            let minutes = Settings::load(&mut *state.store.conn().await?)
                .await?
                .get("reset_ttl_forgot_minutes");
            Ok(ForgotPage {
                layout,
                sent: true,
                ttl: format!("{minutes} minutes"),
                error: None,
            }
            .into_response())
        }
        Err(AppError::Domain(DomainError::Invalid(_))) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            ForgotPage {
                layout,
                sent: false,
                ttl: String::new(),
                error: Some("Enter your username or email.".to_owned()),
            },
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "passwords/reset.html")]
struct ResetPage {
    layout: Layout,
    token: String,
    username: String,
    errors: Vec<String>,
    hint: String,
    max_length: usize,
}

#[derive(Template, WebTemplate)]
#[template(path = "passwords/reset_invalid.html")]
struct ResetInvalidPage {
    layout: Layout,
}

/// The token is in the URL: no page of ours may pass it on in a Referer.
fn no_referrer(status: StatusCode, page: impl IntoResponse) -> Response {
    (
        status,
        [(REFERRER_POLICY, "no-referrer"), (CACHE_CONTROL, "no-store")],
        page,
    )
        .into_response()
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

async fn reset_form(
    State(state): State<AppState>,
    layout: Layout,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let Some(user) = passwords::check_token(state.deps(), &q.token).await? else {
        return Ok(no_referrer(StatusCode::GONE, ResetInvalidPage { layout }));
    };
    let policy = policy(&state).await?;
    Ok(no_referrer(
        StatusCode::OK,
        ResetPage {
            layout,
            token: q.token,
            username: user.username,
            errors: Vec::new(),
            hint: policy_hint(&policy),
            max_length: policy.max_length,
        },
    ))
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

async fn reset(
    State(state): State<AppState>,
    layout: Layout,
    ReqCtx(ctx): ReqCtx,
    Form(form): Form<ResetForm>,
) -> Result<Response, PageError> {
    match passwords::complete_reset(state.deps(), &ctx, &form.token, &form.password).await {
        Ok(_) => Ok(redirect_with_flash(
            &state,
            "/login",
            "success",
            "Your new password is set. Sign in with it.",
        )),
        Err(CompleteError::InvalidLink) => Ok(no_referrer(StatusCode::GONE, ResetInvalidPage { layout })),
        Err(CompleteError::App(AppError::Domain(DomainError::Invalid(errors)))) => {
            let Some(user) = passwords::check_token(state.deps(), &form.token).await? else {
                return Ok(no_referrer(StatusCode::GONE, ResetInvalidPage { layout }));
            };
            let policy = policy(&state).await?;
            Ok(no_referrer(
                StatusCode::UNPROCESSABLE_ENTITY,
                ResetPage {
                    layout,
                    token: form.token,
                    username: user.username,
                    errors: sentences(&errors),
                    hint: policy_hint(&policy),
                    max_length: policy.max_length,
                },
            ))
        }
        Err(CompleteError::App(e)) => Err(e.into()),
    }
}

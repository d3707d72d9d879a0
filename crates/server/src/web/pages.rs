//! Signed-in pages: profile and settings.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use muster_domain::Error as DomainError;
use muster_domain::permission::perm;
use muster_store::users::User;

use super::session::{Layout, ReqCtx, Viewer, redirect_with_flash};
use super::{PageError, TimeFmt};
use crate::app::AppState;
use crate::services;
use crate::settings::{DESCRIPTORS, Descriptor, Kind, Settings};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/profile", get(profile))
        .route("/admin/settings", get(settings_form).post(settings_save))
}

#[derive(Template, WebTemplate)]
#[template(path = "profile.html")]
struct ProfilePage {
    layout: Layout,
    user: User,
    api_keys: super::ApiKeySection,
    pw: super::passwords::PasswordDialog,
    second_factor: services::second_factor::Status,
}

async fn profile(State(state): State<AppState>, layout: Layout, viewer: Viewer) -> Result<ProfilePage, PageError> {
    let api_keys = super::ApiKeySection::load(&state, &viewer.actor, viewer.user.id, true).await?;
    let policy = Settings::load(&mut *state.store.conn().await?).await?.password_policy();
    let pw = super::passwords::PasswordDialog::for_self(&layout.csrf, &policy);
    let second_factor = services::second_factor::status(&state.store, &state.config.public_url, &viewer.user).await?;
    Ok(ProfilePage {
        layout,
        user: viewer.user,
        api_keys,
        pw,
        second_factor,
    })
}

struct SettingRow {
    d: &'static Descriptor,
    value: i64,
    is_bool: bool,
    /// The values and their words, for a setting that is a choice.
    choices: &'static [(i64, &'static str)],
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
struct SettingsPage {
    layout: Layout,
    rows: Vec<SettingRow>,
}

fn rows(s: &Settings, errors: &[muster_domain::FieldError]) -> Vec<SettingRow> {
    DESCRIPTORS
        .iter()
        .map(|d| SettingRow {
            d,
            value: s.get(d.key),
            is_bool: d.kind == Kind::Bool,
            choices: match d.kind {
                Kind::Choice(options) => options,
                _ => &[],
            },
            error: errors.iter().find(|e| e.field == d.key).map(|e| e.message.clone()),
        })
        .collect()
}

async fn settings_form(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
) -> Result<SettingsPage, PageError> {
    viewer.actor.allow::<perm::ManageSettings>()?;
    let mut conn = state.store.conn().await?;
    let s = Settings::load(&mut conn).await?;
    Ok(SettingsPage {
        layout,
        rows: rows(&s, &[]),
    })
}

async fn settings_save(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::ManageSettings>()?;
    match services::settings::update(&state.store, &grant, &ctx, &form).await {
        Ok(()) => Ok(redirect_with_flash(
            &state,
            "/admin/settings",
            "success",
            "Settings saved.",
        )),
        Err(crate::error::AppError::Domain(DomainError::Invalid(errors))) => {
            let mut conn = state.store.conn().await?;
            let s = Settings::load(&mut conn).await?;
            let mut rows = rows(&s, &errors);
            for r in &mut rows {
                if let Some((_, v)) = form.iter().find(|(k, _)| k == r.d.key) {
                    r.value = v.trim().parse().unwrap_or(r.value);
                }
            }
            Ok((
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                SettingsPage { layout, rows },
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

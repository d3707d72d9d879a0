//! `/admin/settings`: every setting on one form, saved whole or not at all.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use muster_domain::Error as DomainError;
use muster_domain::permission::perm;

use super::PageError;
use super::session::{Layout, ReqCtx, Viewer, redirect_with_flash};
use crate::app::AppState;
use crate::services;
use crate::settings::{DESCRIPTORS, Descriptor, Kind, Settings};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/settings", get(settings_form).post(settings_save))
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

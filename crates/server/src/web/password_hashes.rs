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
use muster_store::jobs::Status;
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
        .route("/admin/settings/password-hashes/schedule", post(schedule))
        .route("/admin/settings/password-hashes/cancel", post(cancel))
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
    scheduled: Vec<ScheduledRow>,
    today: String,
}

/// A scheduled reset as the page lists it.
struct ScheduledRow {
    id: i64,
    scheme: String,
    on: String,
    status: &'static str,
    /// Mails queued when done, or why it failed.
    outcome: String,
    cancellable: bool,
}

impl ScheduledRow {
    /// `mails`: how many of the job's users were reset (one mail each).
    fn of(r: foreign_hashes::ScheduledReset, mails: i64) -> Self {
        let job = r.job;
        let outcome = match job.status {
            Status::Done => format!("{mails} reset mail(s) queued"),
            Status::Failed => job.error.clone().unwrap_or_default(),
            Status::Queued | Status::Running => String::new(),
        };
        ScheduledRow {
            id: job.id,
            scheme: r.scheme.map_or_else(|| "?".to_owned(), |s| s.label().to_owned()),
            on: job
                .not_before
                .map(|t| muster_domain::dates::format_bound(t, false))
                .unwrap_or_default(),
            status: job.status.as_str(),
            outcome,
            cancellable: job.status == Status::Queued,
        }
    }
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
    let mut scheduled = Vec::new();
    for r in foreign_hashes::scheduled_resets(&mut *state.store.conn().await?).await? {
        let mails = if r.job.status == Status::Done {
            crate::services::mass_reset::Summary::of(&state.store, r.job.id)
                .await?
                .reset
        } else {
            0
        };
        scheduled.push(ScheduledRow::of(r, mails));
    }
    let now = crate::clock::now();
    let today = muster_domain::dates::format_bound(now - now.rem_euclid(86_400_000), false);
    Ok(PasswordHashesPage {
        layout,
        rows,
        scheduled,
        today,
    })
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
    let scheme = foreign_scheme(&form.scheme)?;
    let result = foreign_hashes::reset_scheme(state.deps(), &grant, &ctx, scheme).await?;
    Ok(redirect_with_flash(&state, PATH, "success", &result.message()))
}

fn foreign_scheme(key: &str) -> Result<Scheme, DomainError> {
    Scheme::from_key(key)
        .filter(|s| Scheme::FOREIGN.contains(s))
        .ok_or_else(|| DomainError::invalid("scheme", format!("unknown scheme {key:?}")))
}

#[derive(Deserialize)]
struct ScheduleForm {
    scheme: String,
    reset_on: String,
}

async fn schedule(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Form(form): Form<ScheduleForm>,
) -> Result<Response, PageError> {
    viewer.actor.allow::<perm::ManageSettings>()?;
    let grant = viewer.actor.allow::<perm::ResetPasswords>()?;
    let scheme = foreign_scheme(&form.scheme)?;
    match foreign_hashes::schedule_reset(&state.store, &grant, &ctx, scheme, &form.reset_on).await {
        Ok(_) => {
            let message = format!(
                "Scheduled: on {} every user still on {} gets a password reset mail.",
                form.reset_on.trim(),
                scheme.label()
            );
            Ok(redirect_with_flash(&state, PATH, "success", &message))
        }
        Err(crate::error::AppError::Domain(DomainError::Invalid(fields))) => {
            let message = fields
                .iter()
                .map(|f| format!("Reset date {}", f.message))
                .collect::<Vec<_>>()
                .join("; ");
            Ok(redirect_with_flash(&state, PATH, "error", &message))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct CancelForm {
    job: i64,
}

async fn cancel(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Form(form): Form<CancelForm>,
) -> Result<Response, PageError> {
    viewer.actor.allow::<perm::ManageSettings>()?;
    let grant = viewer.actor.allow::<perm::ResetPasswords>()?;
    let (kind, message) = if foreign_hashes::cancel_reset(&state.store, &grant, &ctx, form.job).await? {
        ("success", "The scheduled reset was cancelled.")
    } else {
        (
            "error",
            "That reset has already started or is gone: nothing was cancelled.",
        )
    };
    Ok(redirect_with_flash(&state, PATH, kind, message))
}

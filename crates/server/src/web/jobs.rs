//! A mass password reset's progress page (`/admin/jobs/{id}`), where the
//! grid's mass Reset lands: processed of total, reloaded every few seconds
//! until the job ends (by `muster.js`, like the Exports page; a meta refresh
//! would take the page away from a screen-reader user mid-sentence, WCAG
//! 2.2.1), with a "Reload now" link without script; then what it did.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use muster_store::jobs::Status;

use super::session::{Layout, Viewer};
use super::{PageError, TimeFmt};
use crate::app::AppState;
use crate::services::mass_reset::{self, Summary};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/jobs/{id}", get(page))
}

/// Where a mass action that runs as a job sends the browser.
pub fn href(id: i64) -> String {
    format!("/admin/jobs/{id}")
}

/// Seconds between the page's reloads while the job runs.
const RELOAD_AFTER_MS: u32 = 2000;

#[derive(Template, WebTemplate)]
#[template(path = "job.html")]
struct JobPage {
    layout: Layout,
    id: i64,
    title: &'static str,
    status: &'static str,
    badge: &'static str,
    processed: i64,
    total: i64,
    /// Whole percent done, for the progress bar's label.
    percent: i64,
    created_at: i64,
    finished_at: Option<i64>,
    /// What the job did, once it is done.
    outcome: String,
    error: String,
    reload_after_ms: Option<u32>,
}

async fn page(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<JobPage, PageError> {
    let job = crate::services::jobs::get(&state.store, &viewer.actor, id).await?;
    let title = match job.kind.as_str() {
        mass_reset::KIND => "Reset Password",
        crate::services::foreign_hashes::RESET_KIND => "Scheduled password reset",
        crate::services::exports::KIND => "Export",
        _ => "Background job",
    };
    let total = job.total.max(job.processed);
    let outcome = if job.status == Status::Done && job.kind != crate::services::exports::KIND {
        Summary::of(&state.store, job.id).await?.message()
    } else {
        String::new()
    };
    let running = matches!(job.status, Status::Queued | Status::Running);
    Ok(JobPage {
        layout,
        id: job.id,
        title,
        status: job.status.as_str(),
        badge: match job.status {
            Status::Done => "ok",
            Status::Failed => "bad",
            Status::Queued | Status::Running => "warn",
        },
        processed: job.processed,
        total,
        percent: if total > 0 { job.processed * 100 / total } else { 100 },
        created_at: job.created_at,
        finished_at: job.finished_at,
        outcome,
        error: job.error.unwrap_or_default(),
        reload_after_ms: running.then_some(RELOAD_AFTER_MS),
    })
}

//! The Exports page (list, start, download). The Import page is `imports.rs`.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use muster_domain::permission::perm;
use muster_domain::{Error as DomainError, FieldError, Selection};

use super::session::{Layout, ReqCtx, Viewer, redirect_with_flash};
use super::{PageError, TimeFmt};
use crate::app::AppState;
use crate::error::AppError;
use crate::services::exports::{self, Export};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/exports", get(list).post(start))
        .route("/admin/exports/{id}/download", get(download))
}

/// One line of the exports table.
struct Line {
    id: i64,
    state: &'static str,
    badge: &'static str,
    processed: i64,
    total: i64,
    requested_by: String,
    created_at: i64,
    finished_at: Option<i64>,
    filtered: bool,
    downloadable: bool,
    error: String,
}

impl From<Export> for Line {
    fn from(e: Export) -> Self {
        let state = e.state();
        Line {
            id: e.job.id,
            state,
            badge: match state {
                "done" => "ok",
                "failed" => "bad",
                "queued" | "running" => "warn",
                _ => "",
            },
            processed: e.job.processed,
            total: e.job.total.max(e.job.processed),
            requested_by: e.request.requested_by.clone(),
            created_at: e.job.created_at,
            finished_at: e.job.finished_at,
            filtered: e.is_filtered(),
            downloadable: e.downloadable(),
            error: e.job.error.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "exports.html")]
struct ExportsPage {
    layout: Layout,
    lines: Vec<Line>,
    active: bool,
    can_import: bool,
}

async fn list(State(state): State<AppState>, layout: Layout, viewer: Viewer) -> Result<ExportsPage, PageError> {
    let grant = viewer.actor.allow::<perm::ExportUsers>()?;
    let lines: Vec<Line> = exports::list(&state.store, &grant)
        .await?
        .into_iter()
        .map(Line::from)
        .collect();
    Ok(ExportsPage {
        layout,
        active: lines.iter().any(|l| matches!(l.state, "queued" | "running")),
        lines,
        can_import: viewer.actor.has(muster_domain::Permission::ImportUsers),
    })
}

/// Start an export. The grid's Export button posts its view and filters, in
/// the query string or the form; without them every user of the actor's
/// organizations is exported.
async fn start(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::ExportUsers>()?;
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    pairs.extend(serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body).unwrap_or_default());
    // the grid's own query syntax, read by the grid's own parser: the export holds the grid's users
    let selection = if crate::selection_query::names_a_selection(&pairs) {
        let (selection, problems) = Selection::from_query(&pairs);
        // the grid prints only what it reads: a problem here is a hand-made URL, refused rather than guessed
        if !problems.is_empty() {
            let fields = problems.into_iter().map(|p| FieldError::new("", p)).collect();
            return Err(AppError::from(DomainError::Invalid(fields)).into());
        }
        Some(selection)
    } else {
        None
    };
    let export = exports::request_export(&state.store, &grant, &ctx, selection.as_ref()).await?;
    let what = if export.is_filtered() {
        "the users of your view"
    } else {
        "all users"
    };
    Ok(redirect_with_flash(
        &state,
        "/admin/exports",
        "success",
        &format!(
            "Export #{} of {what} was started. You will get an email with the download link when it is ready.",
            export.job.id
        ),
    ))
}

async fn download(
    State(state): State<AppState>,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let grant = viewer.actor.allow::<perm::ExportUsers>()?;
    let (_, path) = exports::download(&state.store, &grant, &ctx, &state.config.data_dir, id).await?;
    Ok(crate::api::exports::csv_file(&path, id).await?)
}

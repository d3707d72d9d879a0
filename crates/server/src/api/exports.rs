//! The API side of exports (DESIGN.md §2): `POST /api/exports/users` → 202
//! with the job, `GET /api/exports/{id}`, `GET /api/exports/{id}/download` →
//! `text/csv`. These are the handlers' bodies over the same services as the
//! Exports page; the API router mounts them behind its API-key authentication
//! and maps `AppError` to JSON:API errors.

use std::path::Path;

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use muster_domain::permission::perm;
use muster_domain::{Actor, Selection};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::services::Ctx;
use crate::services::exports::{self, Export};

const MEDIA_TYPE: &str = "application/vnd.api+json";

/// An export as a JSON:API resource of type `exports`.
pub fn resource(e: &Export) -> Value {
    let time = |t: Option<i64>| t.map(clock::rfc3339);
    json!({
        "type": "exports",
        "id": e.job.id.to_string(),
        "attributes": {
            "status": e.job.status.as_str(),
            "expired": e.state() == "expired",
            "processed": e.job.processed,
            "total": e.job.total.max(e.job.processed),
            "requestedBy": e.request.requested_by,
            "filtered": e.is_filtered(),
            "columns": e.request.columns,
            "createdAt": clock::rfc3339(e.job.created_at),
            "startedAt": time(e.job.started_at),
            "finishedAt": time(e.job.finished_at),
            "error": e.job.error,
        },
        "links": {
            "self": format!("/api/exports/{}", e.job.id),
            "download": format!("/api/exports/{}/download", e.job.id),
        }
    })
}

fn document(status: StatusCode, e: &Export) -> Response {
    let mut resp = (status, Json(json!({ "data": resource(e) }))).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    resp
}

/// `POST /api/exports/users`: the filter keys of `GET /api/users`
/// (`filter[view]`, `filter[authStatus]`…) from the query string narrow the export.
pub async fn create(state: &AppState, actor: &Actor, ctx: &Ctx, query: Option<&str>) -> AppResult<Response> {
    let grant = actor.allow::<perm::ExportUsers>()?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
    let selection = Selection::from_api(&pairs)?;
    let narrowed = pairs.iter().any(|(k, _)| k.starts_with("filter["));
    let export = exports::request_export(&state.store, &grant, ctx, narrowed.then_some(&selection)).await?;
    let mut resp = document(StatusCode::ACCEPTED, &export);
    if let Ok(v) = HeaderValue::from_str(&format!("/api/exports/{}", export.job.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `GET /api/exports/{id}`.
pub async fn show(state: &AppState, actor: &Actor, id: i64) -> AppResult<Response> {
    let grant = actor.allow::<perm::ExportUsers>()?;
    Ok(document(StatusCode::OK, &exports::get(&state.store, &grant, id).await?))
}

/// `GET /api/exports/{id}/download`: 409 until the export is done.
pub async fn download(state: &AppState, actor: &Actor, ctx: &Ctx, id: i64) -> AppResult<Response> {
    let grant = actor.allow::<perm::ExportUsers>()?;
    let (_, path) = exports::download(&state.store, &grant, ctx, &state.config.data_dir, id).await?;
    csv_file(&path, id).await
}

/// A finished export file, streamed (never read whole into memory).
pub async fn csv_file(path: &Path, id: i64) -> AppResult<Response> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|_| AppError::not_found("export file"))?;
    let len = file.metadata().await.map(|m| m.len()).ok();
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024));
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"muster-users-{id}.csv\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(len) = len {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    Ok(resp)
}

//! `GET /api/jobs/{id}`: a background job's status and progress (a mass
//! password reset answers 202 with one), readable by whoever asked for it
//! and by the Administrators of every organization it acted in.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use muster_store::jobs::{Job, Status};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::ApiActor;
use super::error::ApiError;
use super::extract::IdPath;
use super::{SelfLink, document};
use crate::app::AppState;
use crate::clock;
use crate::services;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show))
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub enum JobsType {
    #[serde(rename = "jobs")]
    Jobs,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Failed,
}

impl From<Status> for JobStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Queued => JobStatus::Queued,
            Status::Running => JobStatus::Running,
            Status::Done => JobStatus::Done,
            Status::Failed => JobStatus::Failed,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobAttributes {
    /// What the job does: `mass_password_reset`, `export_users`, `password_scheme_reset`.
    #[schema(example = "mass_password_reset")]
    pub kind: String,
    pub status: JobStatus,
    /// Items gone through so far.
    pub processed: i64,
    /// Items the job goes through (for a mass reset: the users selected when it was asked for).
    pub total: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobResource {
    #[serde(rename = "type")]
    pub kind: JobsType,
    pub id: String,
    pub attributes: JobAttributes,
    pub links: SelfLink,
}

impl JobResource {
    pub fn of(job: &Job) -> Self {
        JobResource {
            kind: JobsType::Jobs,
            id: job.id.to_string(),
            attributes: JobAttributes {
                kind: job.kind.clone(),
                status: job.status.into(),
                processed: job.processed,
                total: job.total.max(job.processed),
                created_at: clock::rfc3339(job.created_at),
                started_at: job.started_at.map(clock::rfc3339),
                finished_at: job.finished_at.map(clock::rfc3339),
                error: job.error.clone(),
            },
            links: SelfLink { self_: path(job.id) },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobDocument {
    pub data: JobResource,
}

/// Where a job is read.
pub fn path(id: i64) -> String {
    format!("/api/jobs/{id}")
}

/// A response naming the job in `Location`.
pub fn located(mut resp: Response, id: i64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&path(id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// A background job: `status` queued, running, done or failed; `processed` of `total`.
#[utoipa::path(
    get,
    operation_id = "getJob",
    path = "/jobs/{id}",
    tag = "jobs",
    params(("id" = i64, Path, description = "The job's id", example = 1)),
    responses((status = 200, description = "The job", body = JobDocument, content_type = "application/vnd.api+json"))
)]
async fn show(State(state): State<AppState>, who: ApiActor, IdPath(id): IdPath) -> Result<Response, ApiError> {
    let job = services::jobs::get(&state.store, &who.actor, id).await?;
    Ok(document(
        StatusCode::OK,
        &JobDocument {
            data: JobResource::of(&job),
        },
    ))
}

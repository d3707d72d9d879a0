//! Reading a background job (`GET /api/jobs/{id}`, the job page): who may see
//! its status and progress.

use muster_domain::{Actor, Role};
use muster_store::Store;
use muster_store::jobs::{self, Job};

use crate::error::{AppError, AppResult};

/// Whether `actor` may read `job`: its requester always; an Administrator
/// when they belong to every organization the requester acted in (the users it
/// touches are all within their reach, as for exports). Anyone else is told
/// it does not exist.
pub fn visible_to(job: &Job, actor: &Actor) -> bool {
    if job.created_by.is_some_and(|by| by == actor.user_id) {
        return true;
    }
    if !actor.roles.contains(&Role::Administrator) {
        return false;
    }
    let orgs: Vec<i64> = serde_json::from_str::<serde_json::Value>(&job.payload)
        .ok()
        .and_then(|p| p.get("organization_ids").cloned())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    !orgs.is_empty() && orgs.iter().all(|o| actor.organization_ids.contains(o))
}

/// The job `id` if `actor` may read it; otherwise "not found".
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn get(store: &Store, actor: &Actor, id: i64) -> AppResult<Job> {
    let job = jobs::get(&mut *store.conn().await?, id).await?;
    job.filter(|j| visible_to(j, actor))
        .ok_or_else(|| AppError::not_found("job"))
}

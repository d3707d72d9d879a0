//! Exports of users to CSV: asked for here, run by the job worker
//! (`jobs::export_users`), listed and downloaded within the actor's organizations.
//!
//! An export covers the users of the requester's organizations (optionally
//! narrowed by the grid's view and filters). Another administrator sees and
//! downloads it only if they belong to every one of those organizations, so
//! nobody gets a file with users they could not see in the grid.

use std::path::{Path, PathBuf};

use muster_domain::AuditAction;
use muster_domain::permission::perm;
use muster_domain::{Actor, Allowed, Error as DomainError, Selection};
use muster_store::Store;
use muster_store::jobs::{self, Job, Status};
use serde::{Deserialize, Serialize};

use super::{Ctx, audit};
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::settings::Settings;
use crate::user_csv::columns::exportable;

/// The `jobs.kind` of a users export.
pub const KIND: &str = "export_users";

/// What was asked, kept in the job's payload: the worker needs nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRequest {
    pub requested_by: String,
    /// The requester's organizations when they asked: the scope of the export.
    pub organization_ids: Vec<i64>,
    /// Column keys, fixed when asked so that a settings change cannot alter a running export.
    pub columns: Vec<String>,
    /// The selection in the query syntax (`view=active&q=smith`, see
    /// `muster_domain::selection`); none: every user of the organizations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<String>,
    /// The filter pairs of payloads written before selections; read, never written.
    #[serde(default, skip_serializing)]
    filter: LegacyFilter,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
struct LegacyFilter {
    #[serde(default)]
    pairs: Vec<(String, String)>,
}

impl ExportRequest {
    /// Which users the export holds; `None` for every user.
    pub fn selection(&self) -> Option<Selection> {
        if let Some(q) = &self.selection {
            return Some(crate::selection_query::parse(q).0);
        }
        if self.filter.pairs.is_empty() {
            return None;
        }
        // an export queued by an older version: its keys in the query syntax
        let pairs: Vec<(String, String)> = self
            .filter
            .pairs
            .iter()
            .flat_map(|(k, v)| {
                let key = match k.as_str() {
                    "search" => "q",
                    "auth_status" => "status",
                    "organization_id" | "organization" => "org",
                    "username" => "username_is",
                    "email" => "email_is",
                    other => other,
                };
                v.split(',').map(move |part| (key.to_owned(), part.trim().to_owned()))
            })
            .collect();
        Some(Selection::from_query(&pairs).0)
    }
}

/// An export job with its request.
#[derive(Debug, Clone)]
pub struct Export {
    pub job: Job,
    pub request: ExportRequest,
}

impl Export {
    pub fn from_job(job: Job) -> AppResult<Export> {
        let request = serde_json::from_str(&job.payload)
            .map_err(|e| AppError::fault(format!("export {} has a bad payload", job.id), e))?;
        Ok(Export { job, request })
    }

    /// `queued`, `running`, `done`, `failed`, or `expired` (done, file deleted).
    pub fn state(&self) -> &'static str {
        match self.job.status {
            Status::Done if self.job.result_path.is_none() => "expired",
            s => s.as_str(),
        }
    }

    pub fn downloadable(&self) -> bool {
        self.job.status == Status::Done && self.job.result_path.is_some()
    }

    pub fn visible_to(&self, actor: &Actor) -> bool {
        !self.request.organization_ids.is_empty()
            && self
                .request
                .organization_ids
                .iter()
                .all(|o| actor.organization_ids.contains(o))
    }

    pub fn is_filtered(&self) -> bool {
        self.request.selection().is_some()
    }
}

/// Where export files live: `<data-dir>/exports/`.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("exports")
}

/// The link in the mail and on the Exports page.
pub fn download_path(id: i64) -> String {
    format!("/admin/exports/{id}/download")
}

/// Queue an export of the users in the actor's organizations, narrowed to `selection` if given.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn request_export(
    store: &Store,
    grant: &Allowed<perm::ExportUsers>,
    ctx: &Ctx,
    selection: Option<&Selection>,
) -> AppResult<Export> {
    let actor = grant.actor();
    if actor.organization_ids.is_empty() {
        return Err(
            DomainError::Refused("You belong to no organization, so there are no users to export.".to_owned()).into(),
        );
    }
    let mut tx = store.begin().await?;
    let settings = Settings::load(&mut tx).await?;
    let columns: Vec<String> = exportable(&settings).iter().map(|c| c.key().to_owned()).collect();
    if columns.is_empty() {
        return Err(DomainError::Refused(
            "No user field is marked exportable in Settings, so there is nothing to export.".to_owned(),
        )
        .into());
    }
    let request = ExportRequest {
        requested_by: actor.username.clone(),
        organization_ids: actor.organization_ids.clone(),
        columns,
        selection: selection.map(crate::selection_query::print),
        filter: LegacyFilter::default(),
    };
    let payload = serde_json::to_string(&request).map_err(|e| AppError::fault("writing the export job payload", e))?;
    let created_by = Some(actor.user_id).filter(|id| *id > 0);
    let id = jobs::enqueue(&mut tx, KIND, &payload, created_by, clock::now()).await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::ExportRequested,
            actor: Some(actor),
            target: None,
            before: None,
            after: Some(serde_json::json!({ "export": id, "selection": request.selection })),
        },
    )
    .await?;
    let job = jobs::get(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("export"))?;
    tx.commit().await?;
    Ok(Export { job, request })
}

/// The newest exports the actor may see.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn list(store: &Store, grant: &Allowed<perm::ExportUsers>) -> AppResult<Vec<Export>> {
    let mut conn = store.conn().await?;
    let mut out = Vec::new();
    for job in jobs::list(&mut conn, KIND, 500).await? {
        // a job nobody can read the request of has no scope: nobody sees it
        let Ok(export) = Export::from_job(job) else {
            continue;
        };
        if export.visible_to(grant.actor()) {
            out.push(export);
            if out.len() == 100 {
                break;
            }
        }
    }
    Ok(out)
}

/// One export the actor may see; any other id is "not found".
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn get(store: &Store, grant: &Allowed<perm::ExportUsers>, id: i64) -> AppResult<Export> {
    let mut conn = store.conn().await?;
    let job = jobs::get(&mut conn, id).await?.filter(|j| j.kind == KIND);
    let Some(job) = job else {
        return Err(AppError::not_found("export"));
    };
    let export = Export::from_job(job)?;
    if !export.visible_to(grant.actor()) {
        return Err(AppError::not_found("export"));
    }
    Ok(export)
}

/// The finished file of an export, for download. Each download is audited:
/// the file may hold password hashes.
#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn download(
    store: &Store,
    grant: &Allowed<perm::ExportUsers>,
    ctx: &Ctx,
    data_dir: &Path,
    id: i64,
) -> AppResult<(Export, PathBuf)> {
    let export = get(store, grant, id).await?;
    match export.state() {
        "done" => {}
        "expired" => {
            return Err(DomainError::Refused(format!(
                "Export #{id} has expired; its file was deleted. Start a new export."
            ))
            .into());
        }
        "failed" => return Err(DomainError::Refused(format!("Export #{id} failed; start a new export.")).into()),
        _ => return Err(DomainError::Refused(format!("Export #{id} is not finished yet.")).into()),
    }
    let relative = export.job.result_path.clone().unwrap_or_default();
    let path = data_dir.join(&relative);
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Err(AppError::not_found("export file"));
    }
    let mut tx = store.begin().await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::ExportDownloaded,
            actor: Some(grant.actor()),
            target: None,
            before: None,
            after: Some(serde_json::json!({ "export": id })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((export, path))
}

//! Running an export job: stream the users to `<data-dir>/exports/<id>.csv.partial`,
//! renewing the lease and recording a checkpoint before each chunk of rows, then
//! rename the file to `<id>.csv` in the transaction that marks the job done
//! and queues the requester's mail. Only a `.csv` is ever offered for download.
//!
//! A worker that takes over a job whose worker died finds the checkpoint: it
//! cuts the `.partial` file back to the checkpoint's length (rows written after
//! it are dropped) and goes on from the checkpoint's last user id. If the file
//! is missing or shorter (another host, a crash of the machine), it starts over.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use muster_store::jobs::{self, Job};
use muster_store::users::{self, Scope};
use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::{LEASE_MS, Outcome};
use crate::app::AppState;
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::services::exports::{self, Export};
use crate::settings::Settings;
use crate::user_csv::Column;
use crate::user_csv::export::{BeforePage, Position, header, stream};

fn io(what: &str, path: &Path, e: std::io::Error) -> AppError {
    AppError::fault(format!("{what} {}", path.display()), e)
}

pub fn partial_path(data_dir: &Path, id: i64) -> PathBuf {
    exports::dir(data_dir).join(format!("{id}.csv.partial"))
}

/// The file name relative to the data dir, as kept in `jobs.result_path`.
pub fn result_name(id: i64) -> String {
    format!("exports/{id}.csv")
}

/// The `.partial` file positioned at its end, resumed from `checkpoint` when the file still holds it.
async fn open_partial(
    path: &Path,
    checkpoint: Option<Position>,
    columns: &[Column],
) -> AppResult<(File, Position, bool)> {
    if let Some(cp) = checkpoint
        && let Ok(meta) = tokio::fs::metadata(path).await
        && meta.len() >= cp.bytes
    {
        let mut f = OpenOptions::new()
            .write(true)
            .open(path)
            .await
            .map_err(|e| io("opening", path, e))?;
        f.set_len(cp.bytes).await.map_err(|e| io("truncating", path, e))?;
        f.seek(SeekFrom::End(0)).await.map_err(|e| io("seeking", path, e))?;
        return Ok((f, cp, true));
    }
    let mut f = File::create(path).await.map_err(|e| io("creating", path, e))?;
    let head = header(columns)?;
    f.write_all(&head).await.map_err(|e| io("writing", path, e))?;
    f.flush().await.map_err(|e| io("writing", path, e))?;
    let pos = Position {
        after_id: 0,
        rows: 0,
        bytes: head.len() as u64,
    };
    Ok((f, pos, false))
}

pub async fn run(state: &AppState, job: &Job, owner: &str) -> AppResult<Outcome> {
    let partial = partial_path(&state.config.data_dir, job.id);
    let result = write_and_finish(state, job, owner, &partial).await;
    if result.is_err() {
        // the job is marked failed: its half-written file is of no use to anyone
        let _ = tokio::fs::remove_file(&partial).await;
    }
    result
}

async fn write_and_finish(state: &AppState, job: &Job, owner: &str, partial: &Path) -> AppResult<Outcome> {
    let store = &state.store;
    let export = Export::from_job(job.clone())?;
    let request = &export.request;
    let columns: Vec<Column> = request.columns.iter().filter_map(|k| Column::parse(k)).collect();
    let filter = request.selection().map(|s| s.filter).unwrap_or_default();
    let scope = Scope::Organizations(request.organization_ids.clone());
    let dir = exports::dir(&state.config.data_dir);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| io("creating", &dir, e))?;

    let checkpoint = job.checkpoint.as_deref().and_then(|c| serde_json::from_str(c).ok());
    let (mut file, start, resumed) = open_partial(partial, checkpoint, &columns).await?;
    if resumed {
        tracing::info!(job = job.id, rows = start.rows, "export resumed from its checkpoint");
    } else {
        let total = users::count(&mut *store.conn().await?, &scope, &filter).await?;
        if !jobs::set_total(&mut *store.conn().await?, job.id, owner, total).await? {
            return Ok(Outcome::LostLease);
        }
    }

    let mut renew = Renew {
        store,
        id: job.id,
        owner,
    };
    let Some(end) = stream(store, &scope, &filter, &columns, &mut file, start, &mut renew).await? else {
        return Ok(Outcome::LostLease);
    };
    file.sync_all().await.map_err(|e| io("syncing", partial, e))?;
    drop(file);

    let mut tx = store.begin().await?;
    let now = clock::now();
    let name = result_name(job.id);
    if !jobs::finish(&mut tx, job.id, owner, now, end.rows, Some(&name)).await? {
        return Ok(Outcome::LostLease);
    }
    let target = state.config.data_dir.join(&name);
    tokio::fs::rename(partial, &target)
        .await
        .map_err(|e| io("renaming", partial, e))?;
    if let Some(requester) = match job.created_by {
        Some(id) => users::get(&mut tx, id).await?,
        None => None,
    } {
        let days = Settings::load(&mut tx).await?.get("export_retention_days");
        let link = format!("{}{}", state.config.public_url, exports::download_path(job.id));
        let mail = crate::mail::messages::export_ready(&requester, job.id, end.rows, days, &link);
        crate::mail::queue(&mut tx, mail, now).await?;
    }
    tx.commit().await?;
    Ok(Outcome::Done)
}

/// Before each page: keep the lease, and record how far the file got.
struct Renew<'a> {
    store: &'a muster_store::Store,
    id: i64,
    owner: &'a str,
}

impl BeforePage for Renew<'_> {
    async fn before_page(&mut self, pos: Position) -> AppResult<bool> {
        let checkpoint =
            serde_json::to_string(&pos).map_err(|e| AppError::fault("writing the export checkpoint", e))?;
        let mut conn = self.store.conn().await?;
        let until = clock::now() + LEASE_MS;
        Ok(jobs::renew(&mut conn, self.id, self.owner, until, pos.rows, Some(&checkpoint)).await?)
    }
}

/// Delete the files of exports finished longer ago than the retention setting.
pub async fn delete_expired(state: &AppState, now: muster_domain::Millis) -> AppResult<usize> {
    let mut conn = state.store.conn().await?;
    let days = Settings::load(&mut conn).await?.get("export_retention_days").max(1);
    let before = now - days * 86_400_000;
    let mut n = 0;
    loop {
        let old = jobs::results_finished_before(&mut conn, exports::KIND, before, 100).await?;
        if old.is_empty() {
            return Ok(n);
        }
        for job in old {
            if let Some(rel) = &job.result_path {
                let path = state.config.data_dir.join(rel);
                match tokio::fs::remove_file(&path).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io("deleting", &path, e)),
                }
            }
            jobs::clear_result(&mut conn, job.id).await?;
            n += 1;
        }
    }
}

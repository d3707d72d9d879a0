//! Writing users to CSV a page at a time: one page of users and its encoded
//! bytes are all that is ever in memory, whatever the number of users.

use muster_store::Store;
use muster_store::user_cursor::Cursor;
use muster_store::users::User;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::Column;
use crate::error::{AppError, AppResult};

/// Users read per query.
pub const PAGE_SIZE: i64 = 1000;

/// How far an export got: the last user written, rows and bytes in the file.
/// A worker that takes over a job resumes from here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub after_id: i64,
    pub rows: i64,
    pub bytes: u64,
}

fn csv_error(e: csv::Error) -> AppError {
    AppError::Internal(format!("writing CSV: {e}"))
}

fn into_bytes(w: csv::Writer<Vec<u8>>) -> AppResult<Vec<u8>> {
    w.into_inner()
        .map_err(|e| AppError::Internal(format!("writing CSV: {}", e.error())))
}

/// The header row.
pub fn header(columns: &[Column]) -> AppResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(columns.iter().map(|c| c.key())).map_err(csv_error)?;
    into_bytes(w)
}

/// One page of users as CSV rows.
pub fn encode(columns: &[Column], users: &[User]) -> AppResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(users.len() * 256));
    for u in users {
        w.write_record(columns.iter().map(|c| c.cell(u))).map_err(csv_error)?;
    }
    into_bytes(w)
}

/// Called before each page is written, with the position of what is already
/// in the output (flushed): a job renews its lease and records a checkpoint,
/// the command line moves its progress bar.
pub trait BeforePage {
    /// `false` stops the export there.
    fn before_page(&mut self, pos: Position) -> impl std::future::Future<Output = AppResult<bool>> + Send;
}

/// Write the users `cursor` selects to `out`, from `pos` on.
/// Returns the final position, or `None` when `hook` stopped the export.
pub async fn stream<W: AsyncWrite + Unpin + Send>(
    store: &Store,
    cursor: &mut Cursor,
    columns: &[Column],
    out: &mut W,
    mut pos: Position,
    hook: &mut impl BeforePage,
) -> AppResult<Option<Position>> {
    cursor.after_id = pos.after_id;
    loop {
        let users = cursor.next_page(store).await?;
        if users.is_empty() {
            return Ok(Some(pos));
        }
        let bytes = encode(columns, &users)?;
        if !hook.before_page(pos).await? {
            return Ok(None);
        }
        out.write_all(&bytes)
            .await
            .map_err(|e| AppError::Internal(format!("writing the export file: {e}")))?;
        out.flush()
            .await
            .map_err(|e| AppError::Internal(format!("writing the export file: {e}")))?;
        pos.after_id = cursor.after_id;
        pos.rows += i64::try_from(users.len()).unwrap_or(i64::MAX);
        pos.bytes += bytes.len() as u64;
    }
}

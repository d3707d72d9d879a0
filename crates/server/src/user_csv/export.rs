//! Writing users to CSV. The rows come from the database's own driver
//! (`muster_store::user_export`: a SQLite step loop, a PostgreSQL `COPY`) and
//! are written cell by cell into a buffer of about half a megabyte, which is
//! handed to the file with a checkpoint: memory stays flat whatever the number
//! of users, and a job resumes from the last user of the last buffer written.
//!
//! [`encode`], the writer of the row-by-row path this replaced (a
//! [`User`] per row, the `csv` crate per record), stays as the reference the
//! tests compare the bytes of the new path with.

use muster_domain::{AuthStatus, Role, UserFilter};
use muster_store::Store;
use muster_store::user_export::{self, Cells, Col, PgReader, SqliteReader};
use muster_store::users::{Scope, User};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::Column;
use super::columns::LIST_SEPARATOR;
use crate::error::{AppError, AppResult};

/// Users read per query by the row-by-row path (kept for the tests' reference pages).
pub const PAGE_SIZE: i64 = 1000;

/// Rows between two checkpoints (and progress updates). A checkpoint of a
/// job is one write to `jobs`; at 2,000 rows it is about 500 writes for a
/// million users, a small part of the export's time.
pub const CHUNK_ROWS: i64 = 2000;
/// A buffer is handed to the file when it holds this much, even before `CHUNK_ROWS`.
const CHUNK_BYTES: usize = 512 * 1024;

/// How far an export got: the last user written, rows and bytes in the file.
/// A worker that takes over a job resumes from here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub after_id: i64,
    pub rows: i64,
    pub bytes: u64,
}

fn csv_error(e: csv::Error) -> AppError {
    AppError::fault("writing CSV", e)
}

fn into_bytes(w: csv::Writer<Vec<u8>>) -> AppResult<Vec<u8>> {
    w.into_inner()
        .map_err(|e| AppError::fault("writing CSV", e.into_error()))
}

/// The header row.
pub fn header(columns: &[Column]) -> AppResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(columns.iter().map(|c| c.key())).map_err(csv_error)?;
    into_bytes(w)
}

/// Users as CSV rows, one [`User`] at a time through the `csv` crate: the
/// reference for [`stream`]'s bytes.
pub fn encode(columns: &[Column], users: &[User]) -> AppResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(users.len() * 256));
    for u in users {
        w.write_record(columns.iter().map(|c| c.cell(u))).map_err(csv_error)?;
    }
    into_bytes(w)
}

/// Called before each buffer is written, with the position of what is already
/// in the output (flushed): a job renews its lease and records a checkpoint,
/// the command line moves its progress bar.
pub trait BeforePage {
    /// `false` stops the export there.
    fn before_page(&mut self, pos: Position) -> impl std::future::Future<Output = AppResult<bool>> + Send;
}

/// Rows encoded since the last hand-over to the file.
struct Chunk {
    bytes: Vec<u8>,
    rows: i64,
    last_id: i64,
}

/// Write the users `scope` and `filter` select, in id order, to `out`, from `pos` on.
/// Returns the final position, or `None` when `hook` stopped the export.
pub async fn stream<W: AsyncWrite + Unpin + Send>(
    store: &Store,
    scope: &Scope,
    filter: &UserFilter,
    columns: &[Column],
    out: &mut W,
    pos: Position,
    hook: &mut impl BeforePage,
) -> AppResult<Option<Position>> {
    let sql = user_export::statement(store.backend, scope, filter, pos.after_id);
    match store.backend {
        muster_store::Backend::Sqlite => stream_sqlite(store, sql, columns, out, pos, hook).await,
        muster_store::Backend::Postgres => stream_postgres(store, sql, columns, out, pos, hook).await,
    }
}

/// Hand one chunk to `out` after the hook; `false` when the hook stopped the export.
async fn write_chunk<W: AsyncWrite + Unpin + Send>(
    chunk: &Chunk,
    out: &mut W,
    pos: &mut Position,
    hook: &mut impl BeforePage,
) -> AppResult<bool> {
    if !hook.before_page(*pos).await? {
        return Ok(false);
    }
    out.write_all(&chunk.bytes)
        .await
        .map_err(|e| AppError::fault("writing the export file", e))?;
    out.flush()
        .await
        .map_err(|e| AppError::fault("writing the export file", e))?;
    pos.after_id = chunk.last_id;
    pos.rows += chunk.rows;
    pos.bytes += chunk.bytes.len() as u64;
    Ok(true)
}

/// The writing side of both paths: every chunk the producer sends, in turn,
/// to `out`. It owns the receiver, so that when it stops early (the hook, or
/// an error) the producer's next send fails instead of waiting for room forever.
/// `None` when the hook stopped the export.
async fn write_chunks<W: AsyncWrite + Unpin + Send>(
    mut rx: tokio::sync::mpsc::Receiver<Chunk>,
    out: &mut W,
    mut pos: Position,
    hook: &mut impl BeforePage,
) -> AppResult<Option<Position>> {
    while let Some(chunk) = rx.recv().await {
        if !write_chunk(&chunk, out, &mut pos, hook).await? {
            return Ok(None);
        }
    }
    Ok(Some(pos))
}

/// Chunks in flight between the producer and the writer: two at most, so
/// memory stays bounded when the disk is slower than the encoding.
const CHUNKS_IN_FLIGHT: usize = 2;

/// Cuts the encoded rows into chunks of `CHUNK_ROWS` rows or `CHUNK_BYTES` bytes.
struct Chunker {
    writer: RowWriter,
    rows: i64,
    last_id: i64,
}

impl Chunker {
    fn new(columns: &[Column]) -> Self {
        Chunker {
            writer: RowWriter::new(columns.to_vec()),
            rows: 0,
            last_id: 0,
        }
    }

    /// Encode one row; a chunk when it filled one.
    fn add(&mut self, cells: &impl Cells) -> muster_store::Result<Option<Chunk>> {
        self.last_id = self.writer.row(cells)?;
        self.rows += 1;
        let full = self.rows >= CHUNK_ROWS || self.writer.buf.len() >= CHUNK_BYTES;
        Ok(full.then(|| self.cut()))
    }

    /// What is left after the last row, if anything.
    fn rest(&mut self) -> Option<Chunk> {
        (self.rows > 0).then(|| self.cut())
    }

    fn cut(&mut self) -> Chunk {
        let rows = std::mem::take(&mut self.rows);
        Chunk {
            bytes: self.writer.take(),
            rows,
            last_id: self.last_id,
        }
    }
}

/// SQLite: a blocking thread steps the statement and encodes; this task writes.
async fn stream_sqlite<W: AsyncWrite + Unpin + Send>(
    store: &Store,
    sql: muster_store::sql::Sql,
    columns: &[Column],
    out: &mut W,
    pos: Position,
    hook: &mut impl BeforePage,
) -> AppResult<Option<Position>> {
    let reader = SqliteReader::open(store).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT);
    let mut chunker = Chunker::new(columns);
    let producer = tokio::task::spawn_blocking(move || -> muster_store::Result<()> {
        reader.run(&sql, |cells| match chunker.add(cells)? {
            // a failed send: the writing side stopped
            Some(chunk) => Ok(tx.blocking_send(chunk).is_ok()),
            None => Ok(true),
        })?;
        if let Some(chunk) = chunker.rest() {
            let _ = tx.blocking_send(chunk);
        }
        Ok(())
    });
    let written = write_chunks(rx, out, pos, hook).await?;
    let produced = producer.await.map_err(|e| AppError::fault("the export thread", e))?;
    let Some(pos) = written else {
        return Ok(None);
    };
    produced?;
    Ok(Some(pos))
}

/// PostgreSQL: this task reads the `COPY` stream and encodes it while the
/// chunk before is being written (a file write goes to a blocking thread and
/// its flush is awaited: done in turn, the encoding waited for every write).
async fn stream_postgres<W: AsyncWrite + Unpin + Send>(
    store: &Store,
    sql: muster_store::sql::Sql,
    columns: &[Column],
    out: &mut W,
    pos: Position,
    hook: &mut impl BeforePage,
) -> AppResult<Option<Position>> {
    let mut reader = PgReader::open(store).await?;
    let mut rows = reader.copy(&sql).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT);
    let mut chunker = Chunker::new(columns);
    let produce = async move {
        while let Some(cells) = rows.next().await? {
            if let Some(chunk) = chunker.add(&cells)?
                && tx.send(chunk).await.is_err()
            {
                // the writing side stopped
                return Ok(());
            }
        }
        if let Some(chunk) = chunker.rest() {
            let _ = tx.send(chunk).await;
        }
        Ok::<(), muster_store::Error>(())
    };
    let (produced, written) = tokio::join!(produce, write_chunks(rx, out, pos, hook));
    let Some(pos) = written? else {
        return Ok(None);
    };
    produced?;
    Ok(Some(pos))
}

/// Encodes rows of driver cells into CSV, cell for cell what [`Column::cell`]
/// and the `csv` crate's defaults (quotes only where needed, `\n` after each
/// record) write for the same user.
struct RowWriter {
    columns: Vec<Column>,
    buf: Vec<u8>,
    /// A list cell rebuilt from its parts.
    scratch: Vec<u8>,
}

fn corrupt(what: impl Into<String>) -> muster_store::Error {
    muster_store::Error::Corrupt(what.into())
}

fn required(cells: &impl Cells, c: Col) -> muster_store::Result<&[u8]> {
    cells.text(c)?.ok_or_else(|| corrupt(format!("{c:?} is NULL")))
}

fn required_int(cells: &impl Cells, c: Col) -> muster_store::Result<i64> {
    cells.int(c)?.ok_or_else(|| corrupt(format!("{c:?} is NULL")))
}

impl RowWriter {
    fn new(columns: Vec<Column>) -> Self {
        RowWriter {
            columns,
            buf: Vec::with_capacity(CHUNK_BYTES + 64 * 1024),
            scratch: Vec::new(),
        }
    }

    fn take(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + 64 * 1024))
    }

    /// Append one row; returns its user id.
    fn row(&mut self, cells: &impl Cells) -> muster_store::Result<i64> {
        let id = required_int(cells, Col::Id)?;
        let start = self.buf.len();
        for (i, column) in self.columns.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            let buf = &mut self.buf;
            match column {
                Column::Id => int_cell(buf, id),
                Column::LoginCount => int_cell(buf, required_int(cells, Col::LoginCount)?),
                Column::Username => text_cell(buf, required(cells, Col::Username)?)?,
                Column::Email => text_cell(buf, required(cells, Col::Email)?)?,
                Column::FirstName => text_cell(buf, required(cells, Col::FirstName)?)?,
                Column::LastName => text_cell(buf, required(cells, Col::LastName)?)?,
                Column::PasswordHash => text_cell(buf, required(cells, Col::PasswordHash)?)?,
                Column::Enabled => {
                    let on = required_int(cells, Col::Enabled)? != 0;
                    buf.extend_from_slice(if on { b"true" } else { b"false" });
                }
                Column::AuthStatus => {
                    let raw = utf8(required(cells, Col::AuthStatus)?)?;
                    let status = AuthStatus::parse(raw).map_err(|_| corrupt(format!("auth_status {raw:?}")))?;
                    buf.extend_from_slice(status.as_str().as_bytes());
                }
                Column::Organizations => {
                    let text = utf8(required(cells, Col::Organizations)?)?;
                    list(&mut self.scratch, text, Some);
                    text_cell(&mut self.buf, &self.scratch)?;
                }
                Column::Roles => {
                    let text = utf8(required(cells, Col::Roles)?)?;
                    list(&mut self.scratch, text, |r| Role::parse(r).ok().map(Role::name));
                    text_cell(&mut self.buf, &self.scratch)?;
                }
                Column::CreatedAt => time_cell(buf, required_int(cells, Col::CreatedAt)?),
                Column::UpdatedAt => time_cell(buf, required_int(cells, Col::UpdatedAt)?),
                Column::LastLoginAt => {
                    if let Some(ms) = cells.int(Col::LastLoginAt)? {
                        time_cell(buf, ms);
                    }
                }
            }
        }
        if self.buf.len() == start {
            // a record of one empty field is written `""` (else it would read as no field)
            self.buf.extend_from_slice(b"\"\"");
        }
        self.buf.push(b'\n');
        Ok(id)
    }
}

fn utf8(b: &[u8]) -> muster_store::Result<&str> {
    std::str::from_utf8(b).map_err(|_| corrupt("a text cell is not UTF-8"))
}

/// The parts of a `", "`-separated list, empty ones dropped, each through
/// `part`, joined again: what `User::from_row` and [`Column::raw_cell`] make of it.
fn list<'a>(out: &mut Vec<u8>, text: &'a str, part: impl Fn(&'a str) -> Option<&'a str>) {
    out.clear();
    for p in text.split(LIST_SEPARATOR).filter(|p| !p.is_empty()).filter_map(part) {
        if !out.is_empty() {
            out.extend_from_slice(LIST_SEPARATOR.as_bytes());
        }
        out.extend_from_slice(p.as_bytes());
    }
}

fn is_formula_start(b: u8) -> bool {
    matches!(b, b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
}

/// A text cell: the formula guard of `columns::guard`, then quoted when it
/// holds a comma, a quote, CR or LF, quotes doubled.
fn text_cell(buf: &mut Vec<u8>, cell: &[u8]) -> muster_store::Result<()> {
    utf8(cell)?;
    let guard = cell.first().is_some_and(|&b| is_formula_start(b));
    let quote = cell.iter().any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
    if !quote {
        if guard {
            buf.push(b'\'');
        }
        buf.extend_from_slice(cell);
        return Ok(());
    }
    buf.push(b'"');
    if guard {
        buf.push(b'\'');
    }
    for part in cell.split_inclusive(|&b| b == b'"') {
        buf.extend_from_slice(part);
        if part.last() == Some(&b'"') {
            buf.push(b'"');
        }
    }
    buf.push(b'"');
    Ok(())
}

/// An integer cell; a negative one starts with `-`, which the guard prefixes.
fn int_cell(buf: &mut Vec<u8>, v: i64) {
    if v < 0 {
        buf.extend_from_slice(b"'-");
    }
    let mut digits = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn two(buf: &mut Vec<u8>, v: i64) {
    buf.push(b'0' + (v / 10) as u8);
    buf.push(b'0' + (v % 10) as u8);
}

/// Unix milliseconds as `clock::rfc3339` writes them (`time`'s RFC 3339:
/// `2024-05-06T07:08:09.12Z`, the fraction without trailing zeros, none when
/// it is zero), without its formatting machinery: at half a million rows per
/// second the three dates of a row are worth writing by hand. A year outside
/// 0–9999, which RFC 3339 cannot write, leaves the cell empty, as there.
fn time_cell(buf: &mut Vec<u8>, ms: i64) {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let (y, m, d) = civil(secs.div_euclid(86_400));
    if !(0..=9999).contains(&y) {
        return;
    }
    let sod = secs.rem_euclid(86_400);
    two(buf, y / 100);
    two(buf, y % 100);
    buf.push(b'-');
    two(buf, m);
    buf.push(b'-');
    two(buf, d);
    buf.push(b'T');
    two(buf, sod / 3600);
    buf.push(b':');
    two(buf, sod / 60 % 60);
    buf.push(b':');
    two(buf, sod % 60);
    if frac != 0 {
        buf.push(b'.');
        let digits = [frac / 100, frac / 10 % 10, frac % 10];
        let keep = if frac % 10 != 0 {
            3
        } else if frac % 100 != 0 {
            2
        } else {
            1
        };
        for dgt in &digits[..keep] {
            buf.push(b'0' + *dgt as u8);
        }
    }
    buf.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(ms: i64) -> String {
        let mut b = Vec::new();
        time_cell(&mut b, ms);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn dates_are_written_as_the_clock_writes_them() {
        let mut probes = vec![
            0,
            1,
            -1,
            10,
            100,
            120,
            999,
            -999,
            -1000,
            951_782_400_000,     // 2000-02-29
            4_102_444_800_000,   // 2100-01-01
            -62_167_219_200_000, // 0000-01-01
            -62_167_219_200_001,
            253_402_300_799_999, // 9999-12-31T23:59:59.999
            253_402_300_800_000,
            i64::MAX,
            i64::MIN,
        ];
        // a walk over four centuries in uneven steps, fractions included
        let mut ms = -2_208_988_800_123_i64;
        while ms < 10_000_000_000_000 {
            probes.push(ms);
            ms += 86_399_937 * 7 + 13;
        }
        for ms in probes {
            assert_eq!(time(ms), crate::clock::rfc3339(ms), "{ms}");
        }
    }

    #[test]
    fn text_cells_match_the_csv_crate_with_the_guard() {
        for cell in [
            "plain",
            "",
            "a,b",
            "say \"hi\"",
            "two\nlines",
            "cr\rhere",
            "=SUM(A1)",
            "-1",
            "+x",
            "@me",
            "\tx",
            "\r\nx",
            "=a,\"b\"",
            "ünïcødé ✓",
            "'quoted",
        ] {
            let mut ours = Vec::new();
            text_cell(&mut ours, cell.as_bytes()).unwrap();
            ours.extend_from_slice(b",x\n");
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record([crate::user_csv::columns::guard(cell.to_owned()), "x".to_owned()])
                .unwrap();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(w.into_inner().unwrap()).unwrap()
            );
        }
    }

    #[test]
    fn integers_and_lists() {
        for v in [0, 7, -7, 1234567890, i64::MAX, i64::MIN] {
            let mut b = Vec::new();
            int_cell(&mut b, v);
            assert_eq!(
                String::from_utf8(b).unwrap(),
                crate::user_csv::columns::guard(v.to_string())
            );
        }
        let mut out = Vec::new();
        list(&mut out, ", Main, , Europe, ", Some);
        assert_eq!(out, b"Main, Europe");
        list(&mut out, "User Manager, bogus, admin", |r| {
            Role::parse(r).ok().map(Role::name)
        });
        assert_eq!(out, b"User Manager, Administrator");
    }
}

//! Importing users from the CSV of an export (`user_csv::import` parses it).
//!
//! Rows are matched to users by username, case-insensitively: an unknown
//! username creates a user, a known one is updated with the cells given.
//! Each row is applied in its own savepoint, so a rejected row changes
//! nothing and the rows before and after it still count; rows are committed
//! in batches (rows for about [`BATCH_TIME`] on SQLite, at most [`BATCH_ROWS`]
//! rows or [`BATCH_TIME_MAX`]), which spares SQLite a commit per row without
//! holding its write lock for long. A dry run
//! applies each row the same way and rolls it back: it rejects exactly what a
//! real run would, except conflicts between two rows of the same file, which
//! it checks for email addresses itself.
//!
//! A password hash in Argon2 PHC form, or of a foreign scheme that
//! `muster_domain::password_hash` reads (bcrypt, Django, Symfony/Oro, PBKDF2),
//! is stored as it is, so users keep their passwords; a foreign one becomes
//! Argon2id at the user's first sign-in. A weak hash rejects its row unless
//! [`Options::allow_weak_hashes`]. A new user without one gets a password nobody knows and the
//! status `password_reset`. Replacing an existing user's hash ends their
//! sessions and mails them that their password was changed.

use std::collections::HashMap;
use std::io::Read;
use std::time::{Duration, Instant};

use muster_domain::permission::perm;
use muster_domain::{Allowed, Error as DomainError, FieldError};
use muster_store::Store;

use super::Ctx;
use super::batching::BatchSize;
use crate::error::{AppError, AppResult};
use crate::user_csv::import::{Header, parse_row};

mod apply;

use apply::{Applied, apply_in_savepoint};

/// Rows per transaction, at most.
pub const BATCH_ROWS: usize = 200;
/// How long a transaction of rows should stay open (other writers wait on
/// SQLite): the number of rows per transaction follows it (see
/// `services::batching`), starting at [`SQLITE_FIRST_ROWS`].
pub const BATCH_TIME: Duration = Duration::from_millis(50);
/// A transaction of rows ends once it has been open this long, however many
/// rows it holds: a sign-in (~200 ms of Argon2) that waits for one batch
/// stays within twice its time.
pub const BATCH_TIME_MAX: Duration = Duration::from_millis(100);
/// The rows of the first transaction on SQLite: a row cost ~4 ms beside the
/// mixed-load bench (20,000 rows in 77 s, load average 12), so the first
/// batch already stays near [`BATCH_TIME`].
const SQLITE_FIRST_ROWS: usize = 10;

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The open transaction of the current batch of rows.
struct Batch {
    tx: Option<(Tx, usize, Instant)>,
    size: BatchSize,
}

impl Batch {
    fn new(store: &Store) -> Batch {
        Batch {
            tx: None,
            size: BatchSize::new(store.backend, SQLITE_FIRST_ROWS, 1, BATCH_ROWS, BATCH_TIME),
        }
    }

    async fn tx(&mut self, store: &Store) -> AppResult<&mut Tx> {
        if self.tx.is_none() {
            self.tx = Some((store.begin().await?, 0, Instant::now()));
        }
        match &mut self.tx {
            Some((tx, rows, _)) => {
                *rows += 1;
                Ok(tx)
            }
            None => Err(AppError::Internal("no import transaction".into())),
        }
    }

    async fn commit_if_full(&mut self, store: &Store) -> AppResult<()> {
        let size = self.size.get();
        if self
            .tx
            .as_ref()
            .is_some_and(|(_, rows, started)| *rows >= size || started.elapsed() >= BATCH_TIME_MAX)
            && let Some((tx, rows, started)) = self.tx.take()
        {
            let written = started.elapsed();
            tx.commit().await?;
            let held = started.elapsed();
            tracing::debug!(
                rows,
                held_ms = held.as_millis() as u64,
                commit_ms = held.saturating_sub(written).as_millis() as u64,
                "import batch"
            );
            self.size.committed(held, store).await;
        }
        Ok(())
    }

    /// The last rows' transaction, at the end of the file.
    async fn commit(&mut self) -> AppResult<()> {
        if let Some((tx, _, _)) = self.tx.take() {
            tx.commit().await?;
        }
        Ok(())
    }
}

/// One problem of a rejected row. A row may have several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The line of the file the row starts on (the header is line 1).
    pub line: u64,
    /// The username cell as written, to find the row.
    pub username: String,
    /// The column key, or `row` for the row as a whole.
    pub field: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub dry_run: bool,
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected_rows: u64,
    pub errors: Vec<RowError>,
    /// Usernames of rows whose hash was of a weak scheme, imported because
    /// [`Options::allow_weak_hashes`] was given: the caller puts them in password reset.
    pub weak_hash_users: Vec<String>,
    /// Columns of an Oro export that muster does not read, left out.
    pub ignored_columns: Vec<String>,
    /// Usernames of users created without a password hash (in a dry run: who
    /// would be): nobody can sign in as them until a reset link is used, so the
    /// import page offers to mail them one.
    pub created_without_password: Vec<String>,
}

/// How an import treats what it reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Check every row and list the rejected ones; change nothing.
    pub dry_run: bool,
    /// Import rows with a weak password hash (MD5, SHA-1, bcrypt under cost 10, …)
    /// without the hash, instead of rejecting them; see [`Report::weak_hash_users`].
    pub allow_weak_hashes: bool,
}

fn csv_problem(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8 text".to_owned(),
        _ => e.to_string(),
    }
}

/// Import `input`. `progress` is told the number of bytes read so far.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn import_users<R: Read + Send>(
    store: &Store,
    grant: &Allowed<perm::ImportUsers>,
    ctx: &Ctx,
    input: R,
    dry_run: bool,
    progress: &mut (impl FnMut(u64) + Send),
) -> AppResult<Report> {
    let options = Options {
        dry_run,
        ..Default::default()
    };
    import_users_with(store, grant, ctx, input, options, progress).await
}

/// [`import_users`] with every option.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn import_users_with<R: Read + Send>(
    store: &Store,
    grant: &Allowed<perm::ImportUsers>,
    ctx: &Ctx,
    input: R,
    options: Options,
    progress: &mut (impl FnMut(u64) + Send),
) -> AppResult<Report> {
    let dry_run = options.dry_run;
    let actor = grant.actor();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut record = csv::StringRecord::new();
    let header = match reader.read_record(&mut record) {
        Ok(true) => Header::parse(&record)?,
        Ok(false) => return Err(DomainError::invalid("file", "is empty: expected a header row").into()),
        Err(e) => return Err(DomainError::invalid("file", format!("header row {}", csv_problem(&e))).into()),
    };
    let mut report = Report {
        dry_run,
        ignored_columns: header.ignored().to_vec(),
        ..Default::default()
    };
    // only in a dry run: emails given by earlier rows, which a real run would have stored
    let mut emails_in_file: HashMap<String, (u64, String)> = HashMap::new();
    let mut batch = Batch::new(store);
    loop {
        let read = reader.read_record(&mut record);
        let line = match &read {
            Ok(_) => record.position().map_or(0, csv::Position::line),
            Err(e) => e.position().map_or(0, csv::Position::line),
        };
        match read {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                report.rows += 1;
                report.rejected_rows += 1;
                report.errors.push(RowError {
                    line,
                    username: String::new(),
                    field: "row".to_owned(),
                    reason: csv_problem(&e),
                });
                continue;
            }
            Err(e) => return Err(DomainError::invalid("file", format!("line {line}: {}", csv_problem(&e))).into()),
        }
        report.rows += 1;
        let username_cell = username_cell(&header, &record);
        let mut weak_user = None;
        let mut no_password = None;
        let outcome = match parse_row(&header, &record) {
            // every reason, not just the cells': the organizations are checked too
            Err(mut errors) => {
                let names = organizations_cell(&header, &record);
                if !names.is_empty() {
                    let tx = batch.tx(store).await?;
                    errors.extend(crate::services::users::organization_errors(tx, actor, &names).await?);
                }
                Err(errors)
            }
            Ok(row) if row.cells.weak_password_hash.is_some() && !options.allow_weak_hashes => {
                let weak = row.cells.weak_password_hash.unwrap_or_default();
                Err(vec![FieldError::new(
                    "password_hash",
                    format!(
                        "{weak}; it is refused (with --allow-weak-hashes the user is imported without it, \
                         in Password reset, and mailed a reset link)"
                    ),
                )])
            }
            Ok(row) => {
                if row.cells.weak_password_hash.is_some() {
                    weak_user = Some(row.username.canonical());
                }
                if row.cells.password_hash.is_none() {
                    no_password = Some(row.username.canonical());
                }
                let email = row.cells.email.as_ref().map(|e| e.canonical());
                let earlier = email
                    .as_ref()
                    .and_then(|e| emails_in_file.get(e))
                    .filter(|(_, u)| *u != row.username.canonical());
                match earlier {
                    Some((l, u)) if dry_run => Err(vec![FieldError::new(
                        "email",
                        format!("is also given to {u} on line {l} of this file"),
                    )]),
                    _ => {
                        let tx = batch.tx(store).await?;
                        let applied = apply_in_savepoint(tx, actor, ctx, &row, dry_run).await?;
                        if dry_run
                            && applied.is_ok()
                            && let Some(e) = email
                        {
                            emails_in_file.insert(e, (line, row.username.canonical()));
                        }
                        applied
                    }
                }
            }
        };
        if outcome.is_ok()
            && let Some(u) = weak_user
        {
            report.weak_hash_users.push(u);
        }
        match outcome {
            Ok(Applied::Created) => {
                report.created += 1;
                report.created_without_password.extend(no_password);
            }
            Ok(Applied::Updated) => report.updated += 1,
            Ok(Applied::Unchanged) => report.unchanged += 1,
            Err(errors) => {
                report.rejected_rows += 1;
                report.errors.extend(errors.into_iter().map(|e| RowError {
                    line,
                    username: username_cell.clone(),
                    field: e.field,
                    reason: e.message,
                }));
            }
        }
        batch.commit_if_full(store).await?;
        progress(reader.position().byte());
    }
    batch.commit().await?;
    Ok(report)
}

fn username_cell(header: &Header, record: &csv::StringRecord) -> String {
    header
        .position(crate::user_csv::Column::Username)
        .and_then(|i| record.get(i))
        .unwrap_or("")
        .chars()
        .take(64)
        .collect()
}

/// The organization names of a row whose cells did not all parse, so that
/// its report lists every reason at once.
fn organizations_cell(header: &Header, record: &csv::StringRecord) -> Vec<String> {
    let cell = header
        .position(crate::user_csv::Column::Organizations)
        .and_then(|i| record.get(i))
        .map(|c| crate::user_csv::columns::unguard(c).trim())
        .unwrap_or("");
    crate::user_csv::import::split_list(cell)
}

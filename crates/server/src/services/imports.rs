//! Importing users from the CSV of an export (`user_csv::import` parses it).
//!
//! Rows are matched to users by username, case-insensitively: an unknown
//! username creates a user, a known one is updated with the cells given.
//! Each row is applied in its own savepoint, so a rejected row changes
//! nothing and the rows before and after it still count; rows are committed
//! in batches (at most [`BATCH_ROWS`] rows or [`BATCH_TIME`]), which spares
//! SQLite a commit per row without holding its write lock for long. A dry run
//! applies each row the same way and rolls it back: it rejects exactly what a
//! real run would, except conflicts between two rows of the same file, which
//! it checks for email addresses itself.
//!
//! A password hash in Argon2 PHC form is stored as it is, so users keep their
//! passwords. A new user without one gets a password nobody knows and the
//! status `password_reset`. Replacing an existing user's hash ends their
//! sessions and mails them that their password was changed.

use std::collections::HashMap;
use std::io::Read;
use std::time::{Duration, Instant};

use muster_domain::permission::perm;
use muster_domain::{Actor, Allowed, AuthStatus, Error as DomainError, FieldError, Millis, Role};
use muster_store::users::{self, NewUser, ProfileChange, User};
use muster_store::{Conn, Store, organizations, outbox, sessions, user_import};

use super::{Ctx, audit};
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::user_csv::import::{Header, Row, parse_row};

/// Rows per transaction, at most.
pub const BATCH_ROWS: usize = 200;
/// How long a transaction of rows stays open, at most (other writers wait on SQLite).
pub const BATCH_TIME: Duration = Duration::from_millis(200);

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The open transaction of the current batch of rows.
struct Batch {
    tx: Option<(Tx, usize, Instant)>,
}

impl Batch {
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

    async fn commit_if_full(&mut self) -> AppResult<()> {
        if self
            .tx
            .as_ref()
            .is_some_and(|(_, rows, started)| *rows >= BATCH_ROWS || started.elapsed() >= BATCH_TIME)
        {
            self.commit().await?;
        }
        Ok(())
    }

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
}

enum Applied {
    Created,
    Updated,
    Unchanged,
}

/// Organizations by lower-cased name, only those the actor belongs to.
struct Orgs(HashMap<String, i64>);

impl Orgs {
    async fn load(conn: &mut Conn, actor: &Actor) -> AppResult<Orgs> {
        let all = organizations::list(conn).await?;
        Ok(Orgs(
            all.into_iter()
                .filter(|o| actor.organization_ids.contains(&o.id))
                .map(|o| (o.name.to_lowercase(), o.id))
                .collect(),
        ))
    }

    fn resolve(&self, names: &[String], errors: &mut Vec<FieldError>) -> Vec<i64> {
        let mut ids = Vec::new();
        for n in names {
            match self.0.get(&n.to_lowercase()) {
                Some(id) => ids.push(*id),
                None => errors.push(FieldError::new("organizations", format!("unknown organization {n:?}"))),
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

fn csv_problem(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8 text".to_owned(),
        _ => e.to_string(),
    }
}

/// Import `input`. `progress` is told the number of bytes read so far.
pub async fn import_users<R: Read + Send>(
    store: &Store,
    grant: &Allowed<perm::ImportUsers>,
    ctx: &Ctx,
    input: R,
    dry_run: bool,
    progress: &mut (impl FnMut(u64) + Send),
) -> AppResult<Report> {
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
    let orgs = Orgs::load(&mut *store.conn().await?, actor).await?;
    let mut report = Report {
        dry_run,
        ..Default::default()
    };
    // only in a dry run: emails given by earlier rows, which a real run would have stored
    let mut emails_in_file: HashMap<String, (u64, String)> = HashMap::new();
    let mut batch = Batch { tx: None };
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
        let outcome = match parse_row(&header, &record) {
            Err(errors) => Err(errors),
            Ok(row) => {
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
                        let applied = apply_in_savepoint(tx, actor, ctx, &orgs, &row, dry_run).await?;
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
        match outcome {
            Ok(Applied::Created) => report.created += 1,
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
        batch.commit_if_full().await?;
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

/// Row problems found by the store (a taken email) become the row's errors.
fn rejected(e: muster_store::Error) -> Result<Vec<FieldError>, AppError> {
    match e {
        muster_store::Error::Domain(DomainError::Invalid(f)) => Ok(f),
        muster_store::Error::Domain(DomainError::Conflict { field }) => {
            Ok(vec![FieldError::new("username", format!("{field} is already taken"))])
        }
        other => Err(other.into()),
    }
}

async fn apply_in_savepoint(
    tx: &mut Tx,
    actor: &Actor,
    ctx: &Ctx,
    orgs: &Orgs,
    row: &Row,
    dry_run: bool,
) -> AppResult<Result<Applied, Vec<FieldError>>> {
    // a transaction begun inside a transaction is a SAVEPOINT
    let mut tx = sqlx::Connection::begin(&mut **tx).await?;
    let result = match apply(&mut tx, actor, ctx, orgs, row).await {
        Ok(r) => r,
        Err(AppError::Domain(d)) => match rejected(muster_store::Error::Domain(d)) {
            Ok(errors) => Err(errors),
            Err(e) => return Err(e),
        },
        Err(e) => return Err(e),
    };
    match (&result, dry_run) {
        (Ok(_), false) => tx.commit().await?,
        _ => tx.rollback().await?,
    }
    Ok(result)
}

async fn apply(
    tx: &mut Conn,
    actor: &Actor,
    ctx: &Ctx,
    orgs: &Orgs,
    row: &Row,
) -> AppResult<Result<Applied, Vec<FieldError>>> {
    let mut errors = Vec::new();
    let c = &row.cells;
    let org_ids = c.organizations.as_ref().map(|names| {
        let ids = orgs.resolve(names, &mut errors);
        if names.is_empty() {
            errors.push(FieldError::new("organizations", "choose at least one organization"));
        }
        ids
    });
    if c.roles.as_ref().is_some_and(Vec::is_empty) {
        errors.push(FieldError::new("roles", "choose at least one role"));
    }
    let now = clock::now();
    match users::find_by_username(tx, row.username.as_str()).await? {
        Some(existing) => {
            let existing_orgs = users::organization_ids(tx, existing.id).await?;
            if existing.id != actor.user_id && !actor.shares_organization(&existing_orgs) {
                errors.push(FieldError::new(
                    "username",
                    "is already taken by a user outside your organizations",
                ));
            }
            if existing.id == actor.user_id {
                check_own_row(row, &mut errors);
            }
            if !errors.is_empty() {
                return Ok(Err(errors));
            }
            // organizations the actor does not belong to are kept: they cannot see them to drop them
            let org_ids = org_ids.map(|mut ids| {
                ids.extend(existing_orgs.iter().filter(|o| !actor.organization_ids.contains(o)));
                ids.sort_unstable();
                ids.dedup();
                ids
            });
            update(tx, actor, ctx, row, &existing, &existing_orgs, org_ids, now).await
        }
        None => {
            let required = [
                ("email", c.email.is_none()),
                ("first_name", c.first_name.is_none()),
                ("last_name", c.last_name.is_none()),
                ("organizations", c.organizations.is_none()),
                ("roles", c.roles.is_none()),
            ];
            for (key, missing) in required {
                if missing {
                    errors.push(FieldError::new(key, "is required for a new user"));
                }
            }
            let (Some(email), Some(first_name), Some(last_name), Some(org_ids), Some(roles), true) = (
                c.email.clone(),
                c.first_name.clone(),
                c.last_name.clone(),
                org_ids,
                c.roles.clone(),
                errors.is_empty(),
            ) else {
                return Ok(Err(errors));
            };
            let (password_hash, auth_status) = match &c.password_hash {
                Some(h) => (h.clone(), c.auth_status.unwrap_or(AuthStatus::Active)),
                // nobody can sign in until a reset link is used
                None => (
                    format!("!unusable-{}", crate::crypto::random_token(16)),
                    AuthStatus::PasswordReset,
                ),
            };
            let new = NewUser {
                username: row.username.clone(),
                email,
                first_name,
                last_name,
                enabled: c.enabled.unwrap_or(true),
                auth_status,
                password_hash,
                roles,
                organization_ids: org_ids,
            };
            let id = match users::insert(tx, &new, now).await {
                Ok(id) => id,
                Err(e) => return Ok(Err(rejected(e)?)),
            };
            user_import::set_history(tx, id, c.created_at, c.last_login_at, c.login_count).await?;
            let user = users::get(tx, id).await?.ok_or_else(|| AppError::not_found("user"))?;
            let mut after = audit::snapshot(&user);
            after["import"] = serde_json::json!("created");
            audit::record(tx, ctx, Some(actor), "user.imported", Some(&user), None, Some(after)).await?;
            Ok(Ok(Applied::Created))
        }
    }
}

/// An administrator cannot lock themself out by importing their own row.
fn check_own_row(row: &Row, errors: &mut Vec<FieldError>) {
    let c = &row.cells;
    if c.enabled == Some(false) {
        errors.push(FieldError::new("enabled", "you cannot disable yourself"));
    }
    if c.auth_status.is_some_and(|s| s != AuthStatus::Active) {
        errors.push(FieldError::new(
            "auth_status",
            "you cannot lock yourself or reset your own password",
        ));
    }
    if c.roles.as_ref().is_some_and(|r| !r.contains(&Role::Administrator)) {
        errors.push(FieldError::new(
            "roles",
            "you cannot remove your own Administrator role",
        ));
    }
}

#[allow(clippy::too_many_arguments)]
async fn update(
    tx: &mut Conn,
    actor: &Actor,
    ctx: &Ctx,
    row: &Row,
    before: &User,
    before_orgs: &[i64],
    org_ids: Option<Vec<i64>>,
    now: Millis,
) -> AppResult<Result<Applied, Vec<FieldError>>> {
    let c = &row.cells;
    let id = before.id;
    let mut changed = false;
    let profile = ProfileChange {
        username: row.username.clone(),
        email: c
            .email
            .clone()
            .map_or_else(|| muster_domain::EmailAddress::parse(&before.email), Ok)?,
        first_name: c.first_name.clone().map_or_else(
            || muster_domain::PersonName::parse("first_name", &before.first_name),
            Ok,
        )?,
        last_name: c
            .last_name
            .clone()
            .map_or_else(|| muster_domain::PersonName::parse("last_name", &before.last_name), Ok)?,
    };
    if profile.username.as_str() != before.username
        || profile.email.as_str() != before.email
        || profile.first_name.as_str() != before.first_name
        || profile.last_name.as_str() != before.last_name
    {
        if let Err(e) = users::update_profile(tx, id, &profile, now).await {
            return Ok(Err(rejected(e)?));
        }
        changed = true;
    }
    let mut end_sessions = false;
    if let Some(enabled) = c.enabled
        && enabled != before.enabled
    {
        users::set_enabled(tx, id, enabled, now).await?;
        end_sessions |= !enabled;
        changed = true;
    }
    if let Some(status) = c.auth_status
        && status != before.auth_status
    {
        users::set_auth_status(tx, id, status, now).await?;
        end_sessions |= status != AuthStatus::Active;
        changed = true;
    }
    let mut password_changed = false;
    if let Some(hash) = &c.password_hash
        && *hash != before.password_hash
    {
        user_import::set_hash(tx, id, hash, now).await?;
        end_sessions = true;
        password_changed = true;
        changed = true;
    }
    if let Some(roles) = &c.roles {
        let mut wanted = roles.clone();
        wanted.sort();
        wanted.dedup();
        let mut had = before.roles.clone();
        had.sort();
        if wanted != had {
            users::set_roles(tx, id, &wanted).await?;
            changed = true;
        }
    }
    if let Some(ids) = &org_ids
        && ids.as_slice() != before_orgs
    {
        users::set_organizations(tx, id, ids).await?;
        changed = true;
    }
    if !changed {
        return Ok(Ok(Applied::Unchanged));
    }
    if end_sessions {
        sessions::delete_for_user(tx, id, None).await?;
    }
    let after = users::get(tx, id).await?.ok_or_else(|| AppError::not_found("user"))?;
    if password_changed {
        outbox::enqueue(tx, &password_changed_mail(&after), now).await?;
    }
    let mut after_json = audit::snapshot(&after);
    after_json["import"] = serde_json::json!("updated");
    audit::record(
        tx,
        ctx,
        Some(actor),
        "user.imported",
        Some(&after),
        Some(audit::snapshot(before)),
        Some(after_json),
    )
    .await?;
    Ok(Ok(Applied::Updated))
}

fn password_changed_mail(u: &User) -> outbox::NewMail {
    let text_body = format!(
        "Hello {first},\n\nThe password of your account {username} was replaced by an administrator \
         (an import of users). If you did not expect this, contact your administrator.\n\n-- muster\n",
        first = u.first_name,
        username = u.username,
    );
    let e = crate::web::escape;
    let html_body = format!(
        "<p>Hello {first},</p><p>The password of your account {username} was replaced by an administrator \
         (an import of users). If you did not expect this, contact your administrator.</p><p>-- muster</p>",
        first = e(&u.first_name),
        username = e(&u.username),
    );
    outbox::NewMail {
        to_addr: u.email.clone(),
        subject: "Your password was changed".to_owned(),
        text_body,
        html_body,
        message_id: format!(
            "<password-{}-{}@muster.localhost>",
            u.id,
            crate::crypto::random_token(9)
        ),
    }
}

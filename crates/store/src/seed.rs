//! Bulk inserts for `muster seed`: many rows per statement, ids chosen by the
//! caller, so a million users take about a minute instead of an hour.

use muster_domain::{AuthStatus, Millis, Role};

use crate::sql::{Sql, literal};
use crate::{Backend, Conn, Result, Store, users};

#[derive(Debug, Clone)]
pub struct SeedUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub enabled: bool,
    pub auth_status: AuthStatus,
    pub failed_login_count: i64,
    pub login_count: i64,
    pub last_login_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub roles: Vec<Role>,
    /// (id, name), sorted by name.
    pub organizations: Vec<(i64, String)>,
}

impl SeedUser {
    /// The row as every writer of a new user stores it (derived columns included).
    fn stored<'a>(&'a self, password_hash: &'a str) -> users::Stored<'a> {
        users::Stored {
            username: &self.username,
            email: &self.email,
            first_name: &self.first_name,
            last_name: &self.last_name,
            enabled: self.enabled,
            auth_status: self.auth_status,
            password_hash,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// `roles_text` and `orgs_text`, the names the grid shows without a join.
    fn list_texts(&self) -> (String, String) {
        let roles = self.roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ");
        let orgs = self
            .organizations
            .iter()
            .map(|(_, n)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        (roles, orgs)
    }
}

/// A record to seed: (id, kind, title, owner, organization, at).
pub type SeedRecord = (i64, &'static str, String, i64, i64, Millis);

pub async fn next_id(conn: &mut Conn, table: &str) -> Result<i64> {
    let sql = match table {
        "users" => "SELECT COALESCE(MAX(id), 0) + 1 FROM users",
        _ => "SELECT COALESCE(MAX(id), 0) + 1 FROM records",
    };
    Ok(sqlx::query_scalar(sql).fetch_one(&mut *conn).await?)
}

/// Insert users (with their roles and organizations) in three statements.
/// Every user gets the same `password_hash`. Values are literals (see `sql::literal`).
pub async fn insert_users(conn: &mut Conn, batch: &[SeedUser], password_hash: &str) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut sql = Sql::new(&format!(
        "INSERT INTO users (id, login_count, last_login_at, roles_text, orgs_text, {}) VALUES ",
        users::STORED_COLUMNS
    ));
    let mut status = Sql::new(&format!(
        "INSERT INTO user_status (user_id, failed_login_count, {}) VALUES ",
        users::STATUS_COLUMNS
    ));
    let mut roles = Sql::new("INSERT INTO user_roles (user_id, role) VALUES ");
    let mut orgs = Sql::new("INSERT INTO user_organizations (user_id, organization_id) VALUES ");
    let (mut nr, mut no) = (0, 0);
    for (i, u) in batch.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
            status.push(", ");
        }
        let (roles_text, orgs_text) = u.list_texts();
        let last_login = u.last_login_at.map_or_else(|| "NULL".to_owned(), |t| t.to_string());
        let stored = u.stored(password_hash);
        sql.push(&format!(
            "({}, {}, {last_login}, {}, {}",
            u.id,
            u.login_count,
            literal(&roles_text),
            literal(&orgs_text),
        ));
        for v in stored.values() {
            let cell = match v {
                users::Value::Text(s) => literal(&s),
                users::Value::Int(n) => n.to_string(),
            };
            sql.push(", ").push(&cell);
        }
        sql.push(")");
        status.push(&format!("({}, {}", u.id, u.failed_login_count));
        for v in stored.status_values() {
            let cell = match v {
                users::Value::Text(s) => literal(&s),
                users::Value::Int(n) => n.to_string(),
            };
            status.push(", ").push(&cell);
        }
        status.push(")");
        for r in &u.roles {
            if nr > 0 {
                roles.push(", ");
            }
            roles.push(&format!("({}, {})", u.id, literal(r.name())));
            nr += 1;
        }
        for (o, _) in &u.organizations {
            if no > 0 {
                orgs.push(", ");
            }
            orgs.push(&format!("({}, {o})", u.id));
            no += 1;
        }
    }
    sql.query().execute(&mut *conn).await?;
    status.query().execute(&mut *conn).await?;
    if nr > 0 {
        roles.query().execute(&mut *conn).await?;
    }
    if no > 0 {
        orgs.query().execute(&mut *conn).await?;
    }
    Ok(())
}

/// (id, kind, title, owner, organization, at)
pub async fn insert_records(conn: &mut Conn, batch: &[(i64, &str, String, i64, i64, Millis)]) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut sql =
        Sql::new("INSERT INTO records (id, kind, title, owner_id, organization_id, created_at, updated_at) VALUES ");
    for (i, (id, kind, title, owner, org, at)) in batch.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push(&format!(
            "({id}, {}, {}, {owner}, {org}, {at}, {at})",
            literal(kind),
            literal(title)
        ));
    }
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

/// After explicit ids, move PostgreSQL's identity sequences past them
/// (SQLite's AUTOINCREMENT follows the largest id by itself).
pub async fn fix_sequences(store: &Store) -> Result<()> {
    if store.backend == Backend::Postgres {
        for table in ["users", "records"] {
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&store.pool).await?;
        }
        // freshly loaded tables have no visibility map, so an index-only scan
        // still reads the heap: the scope and role probes of every scoped
        // page and count read these two (a few seconds at a million users)
        sqlx::query("VACUUM user_organizations, user_roles")
            .execute(&store.pool)
            .await?;
    }
    sqlx::query("ANALYZE").execute(&store.pool).await?;
    Ok(())
}

/// The two statements the deferral needs, on the pool's `Any` connection or
/// on a PostgreSQL connection of its own (the `COPY` load, [`PgLoad`]).
pub trait Exec: Send {
    fn exec(&mut self, sql: String) -> impl std::future::Future<Output = Result<()>> + Send;
    /// Rows of four text columns.
    fn texts(&mut self, sql: String) -> impl std::future::Future<Output = Result<Vec<[String; 4]>>> + Send;
}

macro_rules! exec_on {
    ($conn:ty) => {
        impl Exec for $conn {
            async fn exec(&mut self, sql: String) -> Result<()> {
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *self).await?;
                Ok(())
            }

            async fn texts(&mut self, sql: String) -> Result<Vec<[String; 4]>> {
                use sqlx::Row;
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&mut *self)
                    .await?;
                rows.iter()
                    .map(|r| Ok([r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?]))
                    .collect()
            }
        }
    };
}

exec_on!(Conn);
exec_on!(sqlx::postgres::PgConnection);

/// The tables a seed fills (`user_search`, PostgreSQL's, through the users triggers).
const SEEDED: &str = "('users', 'user_status', 'user_roles', 'user_organizations', 'records', 'user_search')";

/// Secondary indexes and triggers of the seeded tables (and on PostgreSQL
/// their foreign keys), dropped for a bulk load into a nearly empty database
/// and rebuilt after it, in the same transaction: an index built from a
/// million sorted keys costs a small part of a million random inserts into it,
/// and the counters and the search index the triggers keep are counted once at
/// the end. Unique indexes stay, they are rules.
#[derive(Debug)]
pub struct Deferred {
    /// `CREATE …` (and on PostgreSQL `ALTER TABLE … ADD CONSTRAINT`) statements
    /// to run again: foreign keys, then indexes, then triggers.
    create: Vec<String>,
    backend: Backend,
}

pub async fn defer_indexes(conn: &mut Conn, backend: Backend) -> Result<Deferred> {
    defer_indexes_of(conn, backend, SEEDED).await
}

/// [`defer_indexes`] for other tables: `tables` is an SQL list of names, `('a', 'b')`.
pub async fn defer_indexes_of(conn: &mut Conn, backend: Backend, tables: &str) -> Result<Deferred> {
    defer_in(conn, backend, tables).await
}

async fn defer_in(conn: &mut impl Exec, backend: Backend, tables: &str) -> Result<Deferred> {
    let list = match backend {
        Backend::Sqlite => format!(
            "SELECT type, name, sql, tbl_name AS tbl FROM sqlite_master WHERE tbl_name IN {tables} \
             AND type IN ('index', 'trigger') AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%' \
             ORDER BY type, name"
        ),
        // (statistics of the growing tables are stale during a load, so the
        // membership triggers' joins would scan `users` once per statement).
        // Foreign keys too: each row's check is a lookup of its own (2.2
        // million at a million users, memberships, roles and records), while
        // adding the key back checks every row in one join; a row that breaks
        // it fails the seed's transaction as the per-row check would have.
        Backend::Postgres => format!(
            "SELECT 'constraint'::text AS type, c.conname::text AS name, \
             format('ALTER TABLE %I ADD CONSTRAINT %I ', t.relname, c.conname) || pg_get_constraintdef(c.oid) \
             AS sql, t.relname::text AS tbl FROM pg_constraint c \
             JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace s ON s.oid = t.relnamespace \
             WHERE s.nspname = current_schema() AND t.relname IN {tables} AND c.contype = 'f' \
             UNION ALL \
             SELECT 'index'::text AS type, i.relname::text AS name, pg_get_indexdef(i.oid) AS sql, \
             t.relname::text AS tbl FROM pg_index x \
             JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
             JOIN pg_namespace s ON s.oid = t.relnamespace \
             WHERE s.nspname = current_schema() AND t.relname IN {tables} \
             AND NOT x.indisunique AND NOT x.indisprimary \
             UNION ALL \
             SELECT 'trigger'::text, g.tgname::text, pg_get_triggerdef(g.oid), t.relname::text FROM pg_trigger g \
             JOIN pg_class t ON t.oid = g.tgrelid JOIN pg_namespace s ON s.oid = t.relnamespace \
             WHERE s.nspname = current_schema() AND t.relname IN {tables} AND NOT g.tgisinternal \
             ORDER BY 1, 2"
        ),
    };
    let rows = conn.texts(list).await?;
    let mut deferred = Deferred {
        create: Vec::new(),
        backend,
    };
    for [kind, name, create, table] in rows {
        let statement = match (backend, kind.as_str()) {
            (Backend::Postgres, "trigger") => format!("DROP TRIGGER IF EXISTS \"{name}\" ON \"{table}\""),
            (Backend::Postgres, "constraint") => format!("ALTER TABLE \"{table}\" DROP CONSTRAINT \"{name}\""),
            _ => format!("DROP {} IF EXISTS \"{name}\"", kind.to_uppercase()),
        };
        conn.exec(statement).await?;
        deferred.create.push(create);
    }
    Ok(deferred)
}

/// Rebuild what [`defer_indexes`] dropped, then count from scratch what the
/// triggers would have kept.
pub async fn restore_indexes(conn: &mut Conn, deferred: Deferred) -> Result<()> {
    restore_in(conn, deferred).await
}

async fn restore_in(conn: &mut impl Exec, deferred: Deferred) -> Result<()> {
    let backend = deferred.backend;
    if backend == Backend::Postgres {
        // what the dropped users triggers would have copied (migration 0020),
        // before its trigram index is built again: one sorted build, not a
        // million inserts into a GIN index
        conn.exec(
            "INSERT INTO user_search (user_id, search_text) SELECT id, search_text FROM users u \
             WHERE NOT EXISTS (SELECT 1 FROM user_search s WHERE s.user_id = u.id)"
                .to_owned(),
        )
        .await?;
    }
    for create in deferred.create {
        conn.exec(create).await?;
    }
    if backend == Backend::Sqlite {
        conn.exec("INSERT INTO users_fts (users_fts) VALUES ('rebuild')".to_owned())
            .await?;
    }
    for sql in [
        "DELETE FROM user_counts",
        "INSERT INTO user_counts (enabled, auth_status, n) \
         SELECT enabled, auth_status, COUNT(*) FROM user_status GROUP BY enabled, auth_status",
        "DELETE FROM user_org_counts",
        "INSERT INTO user_org_counts (organization_id, enabled, auth_status, n) \
         SELECT m.organization_id, s.enabled, s.auth_status, COUNT(*) \
         FROM user_organizations m JOIN user_status s ON s.user_id = m.user_id \
         GROUP BY m.organization_id, s.enabled, s.auth_status",
    ] {
        conn.exec(sql.to_owned()).await?;
    }
    Ok(())
}

/// Run again what [`defer_indexes_of`] dropped; what the triggers keep is the caller's to count.
pub async fn recreate(conn: &mut Conn, deferred: Deferred) -> Result<()> {
    for create in deferred.create {
        sqlx::query(sqlx::AssertSqlSafe(create)).execute(&mut *conn).await?;
    }
    Ok(())
}

/// A bulk load into PostgreSQL through `COPY … FROM STDIN` on a connection of
/// its own, in one transaction: no statement to parse or plan per 500 rows
/// (a fifth of PostgreSQL's work in the `INSERT` seed's profile), and the rows
/// stream while the server writes the previous ones. The deferral of indexes
/// and triggers runs in the same transaction.
pub struct PgLoad {
    conn: sqlx::postgres::PgConnection,
    /// `user_status`, `user_roles` and `user_organizations` rows, gathered while the users
    /// stream (about 60 bytes per user), sent after them: a connection runs one COPY at a time.
    status: Vec<u8>,
    roles: Vec<u8>,
    orgs: Vec<u8>,
}

/// A cell of COPY's text format: backslash, tab, newline and CR escaped.
fn copy_text(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b => out.push(b),
        }
    }
}

fn copy_row(out: &mut Vec<u8>, cells: &[&dyn std::fmt::Display]) {
    use std::io::Write;
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        let _ = write!(out, "{c}");
    }
    out.push(b'\n');
}

/// One users row of the COPY text format, in the column order of [`PgLoad::users`].
fn copy_line(out: &mut Vec<u8>, u: &SeedUser, roles_text: &str, orgs_text: &str, stored: &[users::Value]) {
    use std::io::Write;
    let _ = write!(out, "{}\t{}\t", u.id, u.login_count);
    match u.last_login_at {
        Some(t) => {
            let _ = write!(out, "{t}");
        }
        None => out.extend_from_slice(b"\\N"),
    }
    for text in [roles_text, orgs_text] {
        out.push(b'\t');
        copy_text(out, text);
    }
    copy_values(out, stored);
    out.push(b'\n');
}

/// Stored values of the COPY text format, each after a tab.
fn copy_values(out: &mut Vec<u8>, values: &[users::Value]) {
    use std::io::Write;
    for v in values {
        out.push(b'\t');
        match v {
            users::Value::Text(t) => copy_text(out, t),
            users::Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
        }
    }
}

/// One `user_status` row of the COPY text format: id, lockout counter, then [`users::STATUS_COLUMNS`].
fn copy_status(out: &mut Vec<u8>, id: i64, failed_login_count: i64, status: &[users::Value]) {
    use std::io::Write;
    let _ = write!(out, "{id}\t{failed_login_count}");
    copy_values(out, status);
    out.push(b'\n');
}

impl PgLoad {
    pub async fn begin(store: &Store) -> Result<PgLoad> {
        use sqlx::Connection;
        let mut conn = sqlx::postgres::PgConnection::connect(&store.url).await?;
        conn.exec("BEGIN".to_owned()).await?;
        Ok(PgLoad {
            conn,
            status: Vec::new(),
            roles: Vec::new(),
            orgs: Vec::new(),
        })
    }

    pub async fn defer_indexes(&mut self) -> Result<Deferred> {
        defer_in(&mut self.conn, Backend::Postgres, SEEDED).await
    }

    pub async fn restore_indexes(&mut self, deferred: Deferred) -> Result<()> {
        restore_in(&mut self.conn, deferred).await
    }

    pub async fn next_id(&mut self, table: &str) -> Result<i64> {
        let sql = match table {
            "users" => "SELECT COALESCE(MAX(id), 0) + 1 FROM users",
            _ => "SELECT COALESCE(MAX(id), 0) + 1 FROM records",
        };
        Ok(sqlx::query_scalar(sql).fetch_one(&mut self.conn).await?)
    }

    /// Stream the users of each batch `next` makes, in one COPY; then their roles and organizations.
    /// The row's given and derived columns come from [`users::Stored`], as for every other writer.
    pub async fn users(&mut self, password_hash: &str, mut next: impl FnMut() -> Option<Vec<SeedUser>>) -> Result<()> {
        let mut copy = self
            .conn
            .copy_in_raw(&format!(
                "COPY users (id, login_count, last_login_at, roles_text, orgs_text, {}) FROM STDIN",
                users::STORED_COLUMNS
            ))
            .await?;
        let mut buf = Vec::with_capacity(1 << 20);
        while let Some(batch) = next() {
            buf.clear();
            for u in &batch {
                let (roles_text, orgs_text) = u.list_texts();
                let stored = u.stored(password_hash);
                copy_line(&mut buf, u, &roles_text, &orgs_text, &stored.values());
                copy_status(&mut self.status, u.id, u.failed_login_count, &stored.status_values());
                for r in &u.roles {
                    copy_row(&mut self.roles, &[&u.id, &r.name()]);
                }
                for (o, _) in &u.organizations {
                    copy_row(&mut self.orgs, &[&u.id, o]);
                }
            }
            copy.send(buf.as_slice()).await?;
        }
        copy.finish().await?;
        let status = std::mem::take(&mut self.status);
        let mut copy = self
            .conn
            .copy_in_raw(&format!(
                "COPY user_status (user_id, failed_login_count, {}) FROM STDIN",
                users::STATUS_COLUMNS
            ))
            .await?;
        copy.send(status.as_slice()).await?;
        copy.finish().await?;
        let roles = std::mem::take(&mut self.roles);
        let mut copy = self
            .conn
            .copy_in_raw("COPY user_roles (user_id, role) FROM STDIN")
            .await?;
        copy.send(roles.as_slice()).await?;
        copy.finish().await?;
        let orgs = std::mem::take(&mut self.orgs);
        let mut copy = self
            .conn
            .copy_in_raw("COPY user_organizations (user_id, organization_id) FROM STDIN")
            .await?;
        copy.send(orgs.as_slice()).await?;
        copy.finish().await?;
        Ok(())
    }

    /// Stream the records of each batch `next` makes (as [`insert_records`] takes them), in one COPY.
    pub async fn records(&mut self, mut next: impl FnMut() -> Option<Vec<SeedRecord>>) -> Result<()> {
        let mut copy = self
            .conn
            .copy_in_raw("COPY records (id, kind, title, owner_id, organization_id, created_at, updated_at) FROM STDIN")
            .await?;
        let mut buf = Vec::with_capacity(1 << 20);
        let mut title = Vec::new();
        while let Some(batch) = next() {
            buf.clear();
            for (id, kind, t, owner, org, at) in &batch {
                title.clear();
                copy_text(&mut title, t);
                let title = String::from_utf8_lossy(&title);
                copy_row(&mut buf, &[id, kind, &title, owner, org, at, at]);
            }
            copy.send(buf.as_slice()).await?;
        }
        copy.finish().await?;
        Ok(())
    }

    pub async fn commit(mut self) -> Result<()> {
        self.conn.exec("COMMIT".to_owned()).await
    }
}

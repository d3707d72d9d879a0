//! Users: the row, its denormalized display columns, the list query built
//! from a [`UserFilter`] in one place, and the atomic lockout statements.

use muster_domain::{
    AuthStatus, EmailAddress, Error as DomainError, Millis, PersonName, Role, SortDir, SortField, UserFilter, UserSort,
    Username, View, sort_key,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::{Sql, like_contains};
use crate::{Backend, Conn, Error, Result, flag};

/// Users with their status: the wide `users` row joined with its narrow
/// `user_status` row (migration 0019). Every reader of a user's status says
/// `FROM {USERS}`; the status columns (`enabled`, `auth_status`,
/// `failed_login_count`, `updated_at`) are named only by `user_status`, so
/// they need no table prefix, and `users.id` stays the key the filters probe.
pub const USERS: &str = "users JOIN user_status ON user_status.user_id = users.id";

pub const COLUMNS: &str = "id, username, email, first_name, last_name, enabled, auth_status, \
    failed_login_count, login_count, last_login_at, password_hash, password_changed_at, \
    created_at, updated_at, roles_text, orgs_text";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
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
    pub password_hash: String,
    pub password_changed_at: Millis,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub roles: Vec<Role>,
    /// Organization names, sorted.
    pub organizations: Vec<String>,
}

impl User {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }

    pub fn can_sign_in(&self) -> bool {
        muster_domain::status::may_authenticate(self.enabled, self.auth_status)
    }

    pub fn from_row(row: &AnyRow) -> Result<Self> {
        let status: String = row.try_get("auth_status")?;
        let roles_text: String = row.try_get("roles_text")?;
        let orgs_text: String = row.try_get("orgs_text")?;
        Ok(User {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            email: row.try_get("email")?,
            first_name: row.try_get("first_name")?,
            last_name: row.try_get("last_name")?,
            enabled: row.try_get::<i64, _>("enabled")? != 0,
            auth_status: AuthStatus::parse(&status).map_err(|_| Error::Corrupt(format!("auth_status {status:?}")))?,
            failed_login_count: row.try_get("failed_login_count")?,
            login_count: row.try_get("login_count")?,
            last_login_at: row.try_get("last_login_at")?,
            password_hash: row.try_get("password_hash")?,
            password_changed_at: row.try_get("password_changed_at")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            roles: split_list(&roles_text).filter_map(|r| Role::parse(r).ok()).collect(),
            organizations: split_list(&orgs_text).map(str::to_owned).collect(),
        })
    }
}

fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(", ").filter(|p| !p.is_empty())
}

/// A user to create; every field already parsed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: EmailAddress,
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub enabled: bool,
    pub auth_status: AuthStatus,
    pub password_hash: String,
    pub roles: Vec<Role>,
    pub organization_ids: Vec<i64>,
}

/// The editable profile fields of an existing user.
#[derive(Debug, Clone)]
pub struct ProfileChange {
    pub username: Username,
    pub email: EmailAddress,
    pub first_name: PersonName,
    pub last_name: PersonName,
}

fn search_text(username: &str, email: &str, first: &str, last: &str) -> String {
    format!("{first} {last} {username} {email}").to_lowercase()
}

/// Refuse a username or email that another user already has, naming the field;
/// and a username in another script that reads as an existing plain one
/// (Cyrillic `асе` beside `ace`: [`Username::plain_look_alike`]).
pub async fn check_unique(
    conn: &mut Conn,
    username: &Username,
    email: &EmailAddress,
    except_id: Option<i64>,
) -> Result<()> {
    let look_alike = username.plain_look_alike();
    let rows = sqlx::query(
        "SELECT username_lc, email_lc FROM users WHERE (username_lc = $1 OR email_lc = $2 OR username_lc = $4) \
         AND id <> $3",
    )
    .bind(username.canonical())
    .bind(email.canonical())
    .bind(except_id.unwrap_or(0))
    .bind(look_alike.clone().unwrap_or_else(|| username.canonical()))
    .fetch_all(&mut *conn)
    .await?;
    let mut fields = Vec::new();
    for row in rows {
        let u: String = row.try_get("username_lc")?;
        let e: String = row.try_get("email_lc")?;
        if u == username.canonical() {
            fields.push(muster_domain::FieldError::new("username", "is already taken"));
        } else if look_alike.as_deref() == Some(u.as_str()) {
            fields.push(muster_domain::FieldError::new(
                "username",
                format!("looks like the existing username {u:?}"),
            ));
        }
        if e == email.canonical() {
            fields.push(muster_domain::FieldError::new("email", "is already taken"));
        }
    }
    if fields.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Invalid(fields).into())
    }
}

/// The columns of a users row that every writer of a new user fills, in the order of [`Stored::values`].
pub const STORED_COLUMNS: &str = "username, username_lc, email, email_lc, first_name, last_name, \
     password_hash, password_changed_at, created_at, search_text, first_name_key, last_name_key";

/// The columns of a new user's `user_status` row besides `user_id`, in the order of [`Stored::status_values`].
pub const STATUS_COLUMNS: &str = "enabled, auth_status, updated_at";

/// A value of a stored column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Int(i64),
}

/// A new user's row as stored: the given fields and those derived from them
/// (the lower-cased keys uniqueness is checked on, the search text, the name
/// sort keys). [`insert`] binds it; the seed writes many as literals,
/// unchecked for speed but never computed another way.
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub enabled: bool,
    pub auth_status: AuthStatus,
    pub password_hash: &'a str,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Stored<'_> {
    /// The values of [`STATUS_COLUMNS`], in order.
    pub fn status_values(&self) -> [Value; 3] {
        [
            Value::Int(flag(self.enabled)),
            Value::Text(self.auth_status.as_str().to_owned()),
            Value::Int(self.updated_at),
        ]
    }

    /// The values of [`STORED_COLUMNS`], in order.
    pub fn values(&self) -> [Value; 12] {
        let text = |s: &str| Value::Text(s.to_owned());
        [
            text(self.username),
            // `Username::canonical` and `EmailAddress::canonical`
            Value::Text(self.username.to_lowercase()),
            text(self.email),
            Value::Text(self.email.to_lowercase()),
            text(self.first_name),
            text(self.last_name),
            text(self.password_hash),
            Value::Int(self.created_at),
            Value::Int(self.created_at),
            Value::Text(search_text(self.username, self.email, self.first_name, self.last_name)),
            Value::Text(sort_key(self.first_name)),
            Value::Text(sort_key(self.last_name)),
        ]
    }
}

pub async fn insert(conn: &mut Conn, u: &NewUser, now: Millis) -> Result<i64> {
    check_unique(conn, &u.username, &u.email, None).await?;
    let stored = Stored {
        username: u.username.as_str(),
        email: u.email.as_str(),
        first_name: u.first_name.as_str(),
        last_name: u.last_name.as_str(),
        enabled: u.enabled,
        auth_status: u.auth_status,
        password_hash: &u.password_hash,
        created_at: now,
        updated_at: now,
    };
    let sql = format!(
        "INSERT INTO users ({STORED_COLUMNS}) VALUES ({}) RETURNING id",
        placeholders(STORED_COLUMNS, 1)
    );
    let id: i64 = bind_values(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)), stored.values())
        .fetch_one(&mut *conn)
        .await?;
    // the status row before the memberships, so the membership trigger counts
    // the user in its organizations' counters once (either order would)
    let sql = format!(
        "INSERT INTO user_status (user_id, {STATUS_COLUMNS}) VALUES ($1, {})",
        placeholders(STATUS_COLUMNS, 2)
    );
    bind_values(
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).bind(id),
        stored.status_values(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    set_roles(conn, id, &u.roles).await?;
    set_organizations(conn, id, &u.organization_ids).await?;
    Ok(id)
}

/// `$from, $from+1, …`, one per column of `columns`.
fn placeholders(columns: &str, from: usize) -> String {
    (from..from + columns.split(',').count())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn bind_values<'q, O>(
    mut query: sqlx::query::QueryScalar<'q, sqlx::Any, O, sqlx::any::AnyArguments>,
    values: impl IntoIterator<Item = Value>,
) -> sqlx::query::QueryScalar<'q, sqlx::Any, O, sqlx::any::AnyArguments> {
    for v in values {
        query = match v {
            Value::Text(s) => query.bind(s),
            Value::Int(n) => query.bind(n),
        };
    }
    query
}

/// Stamp a change of a user's own fields (the stamp lives in `user_status`, migration 0019).
pub async fn touch(conn: &mut Conn, id: i64, now: Millis) -> Result<()> {
    sqlx::query("UPDATE user_status SET updated_at = $1 WHERE user_id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn update_profile(conn: &mut Conn, id: i64, p: &ProfileChange, now: Millis) -> Result<()> {
    check_unique(conn, &p.username, &p.email, Some(id)).await?;
    sqlx::query(
        "UPDATE users SET username = $1, username_lc = $2, email = $3, email_lc = $4, first_name = $5, \
         last_name = $6, search_text = $7, first_name_key = $9, last_name_key = $10 WHERE id = $8",
    )
    .bind(p.username.as_str())
    .bind(p.username.canonical())
    .bind(p.email.as_str())
    .bind(p.email.canonical())
    .bind(p.first_name.as_str())
    .bind(p.last_name.as_str())
    .bind(search_text(
        p.username.as_str(),
        p.email.as_str(),
        p.first_name.as_str(),
        p.last_name.as_str(),
    ))
    .bind(id)
    .bind(sort_key(p.first_name.as_str()))
    .bind(sort_key(p.last_name.as_str()))
    .execute(&mut *conn)
    .await?;
    touch(conn, id, now).await
}

/// Fill the name sort keys of up to 1,000 rows written before migration 0013
/// (SQL cannot strip accents, so the migration leaves them NULL); returns how
/// many it filled, 0 once every row has its keys. `Store::migrate` calls it
/// until then, a transaction per batch.
pub async fn fill_name_keys(conn: &mut Conn) -> Result<u64> {
    let rows = sqlx::query(
        "SELECT id, first_name, last_name FROM users \
         WHERE first_name_key IS NULL OR last_name_key IS NULL ORDER BY id LIMIT 1000",
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let (id, first, last): (i64, String, String) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        sqlx::query("UPDATE users SET first_name_key = $1, last_name_key = $2 WHERE id = $3")
            .bind(sort_key(&first))
            .bind(sort_key(&last))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(u64::try_from(rows.len()).unwrap_or(0))
}

pub async fn set_roles(conn: &mut Conn, id: i64, roles: &[Role]) -> Result<()> {
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let mut sorted = roles.to_vec();
    sorted.sort();
    sorted.dedup();
    for r in &sorted {
        sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
            .bind(id)
            .bind(r.name())
            .execute(&mut *conn)
            .await?;
    }
    let text = sorted.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ");
    sqlx::query("UPDATE users SET roles_text = $1 WHERE id = $2")
        .bind(text)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn set_organizations(conn: &mut Conn, id: i64, org_ids: &[i64]) -> Result<()> {
    sqlx::query("DELETE FROM user_organizations WHERE user_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for o in org_ids {
        sqlx::query("INSERT INTO user_organizations (user_id, organization_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(*o)
            .execute(&mut *conn)
            .await?;
    }
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT o.name FROM organizations o JOIN user_organizations uo ON uo.organization_id = o.id \
         WHERE uo.user_id = $1 ORDER BY o.name",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query("UPDATE users SET orgs_text = $1 WHERE id = $2")
        .bind(names.join(", "))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<User>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {USERS} WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(User::from_row).transpose()
}

pub async fn find_by_username(conn: &mut Conn, username: &str) -> Result<Option<User>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {USERS} WHERE username_lc = $1"
    )))
    .bind(username.trim().to_lowercase())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(User::from_row).transpose()
}

pub async fn find_by_email(conn: &mut Conn, email: &str) -> Result<Option<User>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {USERS} WHERE email_lc = $1"
    )))
    .bind(email.trim().to_lowercase())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(User::from_row).transpose()
}

pub async fn organization_ids(conn: &mut Conn, id: i64) -> Result<Vec<i64>> {
    Ok(
        sqlx::query_scalar(
            "SELECT organization_id FROM user_organizations WHERE user_id = $1 ORDER BY organization_id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?,
    )
}

/// Which users an actor may see and act on: `None` for the system (CLI),
/// otherwise the organizations the actor belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    System,
    Organizations(Vec<i64>),
}

/// The one place a filter becomes SQL: appends ` WHERE …` to `sql`, for a
/// statement that visits every user selected (a count, a mass action).
pub fn push_where(sql: &mut Sql, backend: Backend, scope: &Scope, f: &UserFilter) {
    push_filter(sql, backend, scope, f, None, false);
}

/// [`push_where`] for a query that walks users in `order` (its first sort
/// key) and stops after a `LIMIT`: a page, a keyset batch.
pub fn push_where_paged(sql: &mut Sql, backend: Backend, scope: &Scope, f: &UserFilter, order: SortField) {
    push_filter(sql, backend, scope, f, Some(order), false);
}

/// The start of a query over users that walks them by id and stops after a
/// `LIMIT` (a page in id order, a capped count), with its ` WHERE …`.
///
/// A search drives the query from its own table ([`SearchIndex`]), walked in
/// id order and joined to users only for the rows that match, so the walk
/// stops at the LIMIT. On SQLite, written as `id IN (SELECT rowid …)`, SQLite
/// first gathers every match into a sorted list (19,839 for "smith" at a
/// million users: 5 ms of CPU for a page of 25, against 0.3 ms this way);
/// `CROSS JOIN` keeps the index the outer loop whatever the other filters
/// (PostgreSQL has no `CROSS JOIN … ON`, and its planner picks the order itself).
fn push_walk_by_id(sql: &mut Sql, backend: Backend, scope: &Scope, f: &UserFilter) -> &'static str {
    if let Some(index) = SearchIndex::of(backend, f) {
        sql.push(" FROM ").push(index.table).push(match backend {
            Backend::Sqlite => " CROSS JOIN",
            Backend::Postgres => " JOIN",
        });
        sql.push(" users ON users.id = ").push(index.id);
        sql.push(" JOIN user_status ON user_status.user_id = users.id");
        push_filter(sql, backend, scope, f, Some(SortField::Id), true);
        index.id
    } else {
        sql.push(" FROM ").push(USERS);
        push_filter(sql, backend, scope, f, Some(SortField::Id), false);
        "id"
    }
}

fn push_filter(
    sql: &mut Sql,
    backend: Backend,
    scope: &Scope,
    f: &UserFilter,
    walk: Option<SortField>,
    index_joined: bool,
) {
    sql.push(" WHERE 1 = 1");
    let index = SearchIndex::of(backend, f);
    if let Scope::Organizations(orgs) = scope {
        if orgs.is_empty() {
            sql.push(" AND 1 = 0");
        } else if walk.is_some() || index.is_some() || f.only_ids.is_some() {
            // a probe per row visited: a page of 25 in sort order stops after
            // a few dozen rows, a search visits its matches only, a list of
            // ids its own rows (the set below would first gather every
            // member: 10,000 ids in one organization of 250,000 at a million
            // users, 0.26 s against 0.01 s, held the writer in a mass
            // reset's request)
            push_member_of_any(sql, orgs, "users.id");
        } else {
            // driven from the membership index and looked up by primary key: on
            // SQLite several times faster than an EXISTS probe per user row
            sql.push(" AND id IN (SELECT so.user_id FROM user_organizations so WHERE so.organization_id IN ");
            sql.int_list(orgs);
            sql.push(")");
        }
    }
    // On SQLite a page walks the index of its sort order and stops after
    // LIMIT rows. A status column of two or three values must not drive the
    // scan instead: without per-value statistics SQLite's planner guesses half
    // the table for `enabled = 1` (it is 92%), then sorts it all for a page of
    // 25 (measured: 500 ms against 0.4 ms at a million users). `+ 0` and
    // `|| ''` keep the column out of SQLite's index selection. PostgreSQL has
    // per-value statistics, and the same expressions would hide them from it.
    let (enabled, status) = match (backend, walk) {
        (Backend::Postgres, _) | (_, None) => ("enabled", "auth_status"),
        (_, Some(SortField::Enabled)) => ("enabled", "(auth_status || '')"),
        (_, Some(SortField::AuthStatus)) => ("(enabled + 0)", "auth_status"),
        (_, Some(_)) => ("(enabled + 0)", "(auth_status || '')"),
    };
    match f.view {
        None | Some(View::All) => {}
        Some(View::Active) => {
            sql.push(" AND ").push(enabled).push(" = 1");
        }
        Some(View::Disabled) => {
            sql.push(" AND ").push(enabled).push(" = 0");
        }
        Some(View::CannotLogin) => {
            sql.push(" AND ").push(enabled).push(" = 1 AND ").push(status);
            sql.push(" IN ('locked', 'password_reset')");
        }
    }
    if let Some(e) = f.enabled {
        sql.push(" AND ").push(enabled).push(" = ").int(flag(e));
    }
    if !f.auth_statuses.is_empty() {
        sql.push(" AND ").push(status).push(" IN (");
        for (i, s) in f.auth_statuses.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.str(s.as_str());
        }
        sql.push(")");
    }
    if let Some(u) = &f.username {
        sql.push(" AND username_lc = ").str(u.trim().to_lowercase());
    }
    if let Some(e) = &f.email {
        sql.push(" AND email_lc = ").str(e.trim().to_lowercase());
    }
    if let Some(index) = &index {
        if index_joined {
            sql.push(" AND ");
            index.push_match(sql);
        } else {
            sql.push(" AND id IN (SELECT ")
                .push(index.id)
                .push(" FROM ")
                .push(index.table);
            sql.push(" WHERE ");
            index.push_match(sql);
            sql.push(")");
        }
    }
    let search = if index.is_some() { None } else { f.search.clone() };
    let contains = [
        ("search_text", &search),
        ("lower(first_name)", &f.first_name_contains),
        ("lower(last_name)", &f.last_name_contains),
        ("username_lc", &f.username_contains),
        ("email_lc", &f.email_contains),
    ];
    for (column, needle) in contains {
        if let Some(n) = needle.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            sql.push(" AND ")
                .push(column)
                .push(" LIKE ")
                .str(like_contains(n))
                .push(" ESCAPE '\\'");
        }
    }
    if let Some(role) = &f.role {
        sql.push(" AND EXISTS (SELECT 1 FROM user_roles fr WHERE fr.user_id = users.id AND fr.role = ")
            .str(role.clone())
            .push(")");
    }
    if let Some(org) = f.organization_id {
        sql.push(
            " AND EXISTS (SELECT 1 FROM user_organizations fo WHERE fo.user_id = users.id AND fo.organization_id = ",
        )
        .int(org)
        .push(")");
    }
    if let Some(has) = f.second_factor {
        sql.push(if has { " AND EXISTS" } else { " AND NOT EXISTS" })
            .push(" (SELECT 1 FROM second_factors sf WHERE sf.user_id = users.id AND sf.confirmed_at IS NOT NULL)");
    }
    let ranges = [
        ("created_at >= ", f.created_from),
        ("created_at <= ", f.created_to),
        ("updated_at >= ", f.updated_from),
        ("updated_at <= ", f.updated_to),
    ];
    for (cond, v) in ranges {
        if let Some(v) = v {
            sql.push(" AND ").push(cond).int(v);
        }
    }
    if !f.exclude_ids.is_empty() {
        sql.push(" AND id NOT IN ").int_list(&f.exclude_ids);
    }
    if let Some(ids) = &f.only_ids {
        if ids.is_empty() {
            sql.push(" AND 1 = 0");
        } else {
            sql.push(" AND id IN ").int_list(ids);
        }
    }
}

/// Where a search is answered without visiting the wide users rows: a table
/// of the search text alone, with its trigram index, one row per user, keyed
/// by the user's id. SQLite: the FTS5 table of migration 0009 (`users_fts`,
/// rowid = user id). PostgreSQL: `user_search` of migration 0020, with its
/// `pg_trgm` GIN index (on the users table, each candidate of that index was
/// a visit to the 700 MB users heap; BENCHMARKS.md, "PostgreSQL search and seed").
struct SearchIndex {
    table: &'static str,
    /// The user's id in `table`, qualified.
    id: &'static str,
    needle: String,
    backend: Backend,
}

impl SearchIndex {
    /// The index of `f`'s search, if it has one the index can answer. On
    /// SQLite a substring of three characters or more (a trigram index finds
    /// no shorter one, so that stays a LIKE over users); a phrase of trigrams
    /// matches exactly where `LIKE '%needle%'` does, in any case. On
    /// PostgreSQL any search: `pg_trgm` rechecks the LIKE itself, and a
    /// shorter needle is a scan of the narrow table instead of the wide one.
    fn of(backend: Backend, f: &UserFilter) -> Option<SearchIndex> {
        let needle = f.search.as_deref().map(str::trim).filter(|n| !n.is_empty())?;
        match backend {
            Backend::Sqlite => (needle.chars().count() >= 3).then(|| SearchIndex {
                table: "users_fts",
                id: "users_fts.rowid",
                needle: format!("\"{}\"", needle.to_lowercase().replace('"', "\"\"")),
                backend,
            }),
            Backend::Postgres => Some(SearchIndex {
                table: "user_search",
                id: "user_search.user_id",
                needle: like_contains(needle),
                backend,
            }),
        }
    }

    /// The condition that a row of `table` matches.
    fn push_match(&self, sql: &mut Sql) {
        match self.backend {
            Backend::Sqlite => {
                sql.push("users_fts MATCH ").str(self.needle.clone());
            }
            Backend::Postgres => {
                sql.push("user_search.search_text LIKE ")
                    .str(self.needle.clone())
                    .push(" ESCAPE '\\'");
            }
        }
    }
}

fn sort_column(f: SortField) -> &'static str {
    match f {
        SortField::Id => "id",
        // the keys of migration 0013: case and accents do not count (muster_domain::sort_key)
        SortField::FirstName => "first_name_key",
        SortField::LastName => "last_name_key",
        SortField::Email => "email_lc",
        SortField::Username => "username_lc",
        SortField::Enabled => "enabled",
        SortField::AuthStatus => "auth_status",
        SortField::Organizations => "orgs_text",
        SortField::Roles => "roles_text",
        SortField::CreatedAt => "created_at",
        SortField::UpdatedAt => "updated_at",
        SortField::LastLoginAt => "last_login_at",
    }
}

fn push_order(sql: &mut Sql, sort: &UserSort) {
    sql.push(" ORDER BY ");
    let mut has_id = false;
    for (i, (field, dir)) in sort.0.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        has_id |= *field == SortField::Id;
        sql.push(sort_column(*field));
        sql.push(match dir {
            SortDir::Asc => " ASC",
            SortDir::Desc => " DESC",
        });
    }
    if !has_id {
        // the same tie-breaker in the same direction as the first key, so an index on (col, id) serves it
        let dir = match sort.0.first().map(|(_, d)| *d) {
            Some(SortDir::Desc) => " DESC",
            _ => " ASC",
        };
        // A status column's index is on user_status (col, user_id): named as
        // `users.id`, the equal key would make SQLite sort every row of the
        // first key's value after walking the index ("TEMP B-TREE FOR RIGHT
        // PART OF ORDER BY"), 92% of the table for Enabled.
        let on_status = matches!(
            sort.0.first().map(|(f, _)| *f),
            Some(SortField::Enabled | SortField::AuthStatus | SortField::UpdatedAt)
        );
        sql.push(if on_status { ", user_status.user_id" } else { ", id" })
            .push(dir);
    }
}

/// A scope over every organization that exists is the whole table: every
/// user belongs to at least one organization (the services require it), so
/// the per-row organization check can be skipped — on a million users it is
/// most of the cost of a page.
pub async fn effective_scope(conn: &mut Conn, scope: &Scope) -> Result<Scope> {
    let Scope::Organizations(ids) = scope else {
        return Ok(Scope::System);
    };
    if ids.is_empty() {
        return Ok(scope.clone());
    }
    let mut sql = Sql::new("SELECT COUNT(*) FROM organizations WHERE id NOT IN ");
    sql.int_list(ids);
    let outside: i64 = sql.query().fetch_one(&mut *conn).await?.try_get(0)?;
    Ok(if outside == 0 { Scope::System } else { scope.clone() })
}

/// Whether a filter narrows only by the columns `user_counts` is keyed on.
fn counted_by_status_only(f: &UserFilter) -> bool {
    let only_status = UserFilter {
        view: f.view,
        enabled: f.enabled,
        auth_statuses: f.auth_statuses.clone(),
        ..UserFilter::default()
    };
    *f == only_status
}

/// Whether a filter is a search and nothing else.
fn searched_only(f: &UserFilter) -> bool {
    let only_search = UserFilter {
        search: f.search.clone(),
        view: f.view.filter(|v| *v == View::All),
        ..UserFilter::default()
    };
    *f == only_search
}

pub async fn list(
    conn: &mut Conn,
    scope: &Scope,
    f: &UserFilter,
    sort: &UserSort,
    limit: i64,
    offset: i64,
) -> Result<Vec<User>> {
    let scope = &effective_scope(conn, scope).await?;
    list_resolved(conn, scope, f, sort, limit, offset).await
}

/// [`list`] in a scope already through [`effective_scope`]: a page and its
/// count (`*_resolved` too) ask for it once, not once each.
pub async fn list_resolved(
    conn: &mut Conn,
    scope: &Scope,
    f: &UserFilter,
    sort: &UserSort,
    limit: i64,
    offset: i64,
) -> Result<Vec<User>> {
    let backend = Backend::of(conn);
    let mut sql = Sql::new(&format!("SELECT {COLUMNS}"));
    match sort.0.first().copied() {
        // id is unique: the keys after it do not order anything
        Some((SortField::Id, dir)) => {
            let id = push_walk_by_id(&mut sql, backend, scope, f);
            sql.push(" ORDER BY ").push(id).push(match dir {
                SortDir::Asc => " ASC",
                SortDir::Desc => " DESC",
            });
        }
        first => {
            sql.push(" FROM ").push(USERS);
            let walk = first.map_or(SortField::Id, |(field, _)| field);
            push_where_paged(&mut sql, backend, scope, f, walk);
            push_order(&mut sql, sort);
        }
    }
    sql.push(" LIMIT ").int(limit).push(" OFFSET ").int(offset);
    let rows = sql.query().fetch_all(&mut *conn).await?;
    rows.iter().map(User::from_row).collect()
}

/// How many users a filter selects: exactly, or, where counting stopped at a
/// cap, at least how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub n: i64,
    /// `n` is the cap: more users match, not counted.
    pub at_least: bool,
}

/// How many users `f` selects, counting no further than `cap`. The counters
/// answer the built-in views exactly at any size; a search or a filter the
/// counters do not hold is counted by visiting its matches, and at a million
/// users it is that visit, not the page, that costs ("smith" in one
/// organization of 275,000: 19,839 candidates, each probed for membership).
/// So those stop after `cap` matches and say so.
pub async fn count_up_to(conn: &mut Conn, scope: &Scope, f: &UserFilter, cap: i64) -> Result<Count> {
    let scope = &effective_scope(conn, scope).await?;
    count_up_to_resolved(conn, scope, f, cap).await
}

/// [`count_up_to`] in a scope already through [`effective_scope`].
pub async fn count_up_to_resolved(conn: &mut Conn, scope: &Scope, f: &UserFilter, cap: i64) -> Result<Count> {
    let backend = Backend::of(conn);
    if let Some(n) = count_by_counters(conn, backend, scope, f).await? {
        return Ok(Count { n, at_least: false });
    }
    let cap = cap.max(0);
    let mut sql = Sql::new("SELECT COUNT(*) FROM (SELECT 1");
    if let Some(index) = SearchIndex::of(backend, f).filter(|_| searched_only(f)) {
        if !push_index_only(&mut sql, scope, &index) {
            return Ok(Count { n: 0, at_least: false });
        }
    } else {
        push_walk_by_id(&mut sql, backend, scope, f);
    }
    sql.push(" LIMIT ").int(cap.saturating_add(1)).push(") capped");
    let n: i64 = sql.query().fetch_one(&mut *conn).await?.try_get(0)?;
    Ok(if n > cap {
        Count { n: cap, at_least: true }
    } else {
        Count { n, at_least: false }
    })
}

/// ` FROM <search table> WHERE …` for a search-only filter: the index (and
/// the memberships) find the matches without visiting a user row.
/// `false` when the scope holds no organization (nothing matches).
fn push_index_only(sql: &mut Sql, scope: &Scope, index: &SearchIndex) -> bool {
    sql.push(" FROM ").push(index.table).push(" WHERE ");
    index.push_match(sql);
    if let Scope::Organizations(orgs) = scope {
        if orgs.is_empty() {
            return false;
        }
        sql.push(" AND EXISTS (SELECT 1 FROM user_organizations so WHERE so.user_id = ")
            .push(index.id)
            .push(" AND so.organization_id IN ")
            .int_list(orgs);
        if index.backend == Backend::Postgres {
            // `OFFSET 0` keeps the EXISTS a probe per match (a subplan):
            // turned into a join, PostgreSQL hashes the organization's 275,000
            // memberships (a parallel scan) to count 1,001 matches of "smith"
            // (EXPLAIN ANALYZE at a million users: 281 ms against 57 ms)
            sql.push(" OFFSET 0");
        }
        sql.push(")");
    }
    true
}

pub async fn count(conn: &mut Conn, scope: &Scope, f: &UserFilter) -> Result<i64> {
    let scope = &effective_scope(conn, scope).await?;
    count_resolved(conn, scope, f).await
}

/// [`count`] in a scope already through [`effective_scope`].
pub async fn count_resolved(conn: &mut Conn, scope: &Scope, f: &UserFilter) -> Result<i64> {
    let backend = Backend::of(conn);
    if let Some(index) = SearchIndex::of(backend, f).filter(|_| searched_only(f)) {
        let mut sql = Sql::new("SELECT COUNT(*)");
        if !push_index_only(&mut sql, scope, &index) {
            return Ok(0);
        }
        let row = sql.query().fetch_one(&mut *conn).await?;
        return Ok(row.try_get(0)?);
    }
    if let Some(n) = count_by_counters(conn, backend, scope, f).await? {
        return Ok(n);
    }
    let mut sql = Sql::new(&format!("SELECT COUNT(*) FROM {USERS}"));
    push_where(&mut sql, backend, scope, f);
    let row = sql.query().fetch_one(&mut *conn).await?;
    Ok(row.try_get(0)?)
}

/// The count from the trigger-kept counters, when they hold it.
async fn count_by_counters(conn: &mut Conn, backend: Backend, scope: &Scope, f: &UserFilter) -> Result<Option<i64>> {
    if counted_by_status_only(f) {
        // the trigger-kept counters answer the built-in views without a scan;
        // per organization only for one: a member of two would be counted twice
        let counters = match scope {
            Scope::System => Some(("user_counts", None)),
            Scope::Organizations(ids) if ids.len() == 1 => Some(("user_org_counts", ids.first().copied())),
            Scope::Organizations(_) => None,
        };
        if let Some((table, org)) = counters {
            let mut sql = Sql::new("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM ");
            sql.push(table);
            push_where(&mut sql, backend, &Scope::System, f);
            if let Some(org) = org {
                sql.push(" AND organization_id = ").int(org);
            }
            let row = sql.query().fetch_one(&mut *conn).await?;
            return Ok(Some(row.try_get(0)?));
        }
    }
    Ok(None)
}

/// The ids a filter selects (for mass actions that need them one by one).
pub async fn ids(conn: &mut Conn, scope: &Scope, f: &UserFilter) -> Result<Vec<i64>> {
    let scope = &effective_scope(conn, scope).await?;
    let mut sql = Sql::new(&format!("SELECT id FROM {USERS}"));
    push_where(&mut sql, Backend::of(conn), scope, f);
    sql.push(" ORDER BY id");
    let rows = sql.query().fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| r.try_get::<i64, _>(0).map_err(Error::from))
        .collect()
}

/// One wrong password, counted in one atomic statement: only an enabled,
/// active user is counted, and the statement itself locks at the limit, so
/// concurrent attempts (on one instance or many) lock exactly at the limit.
/// Returns the new count and status, or `None` when the attempt was not counted.
pub async fn record_failed_login(
    conn: &mut Conn,
    id: i64,
    limit: i64,
    now: Millis,
) -> Result<Option<(i64, AuthStatus)>> {
    let row = sqlx::query(
        "UPDATE user_status SET failed_login_count = failed_login_count + 1, \
         auth_status = CASE WHEN $1 > 0 AND failed_login_count + 1 >= $1 THEN 'locked' ELSE auth_status END, \
         updated_at = CASE WHEN $1 > 0 AND failed_login_count + 1 >= $1 THEN $2 ELSE updated_at END \
         WHERE user_id = $3 AND enabled = 1 AND auth_status = 'active' \
         RETURNING failed_login_count, auth_status",
    )
    .bind(limit)
    .bind(now)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        None => Ok(None),
        Some(r) => {
            let status: String = r.try_get(1)?;
            Ok(Some((
                r.try_get(0)?,
                AuthStatus::parse(&status).map_err(|_| Error::Corrupt(status))?,
            )))
        }
    }
}

/// A right password: succeeds only if the user is still enabled, active and
/// has the hash that was verified — a lock or a password change that landed
/// while the hash was being checked wins. Two statements in the caller's
/// transaction: the status row first, so its row lock orders this sign-in
/// against a concurrent lock or disable as the one statement on `users` did
/// (PostgreSQL re-checks `enabled` and `auth_status` after waiting for it).
pub async fn record_successful_login(conn: &mut Conn, id: i64, verified_hash: &str, now: Millis) -> Result<bool> {
    let status = sqlx::query(
        "UPDATE user_status SET failed_login_count = 0 \
         WHERE user_id = $1 AND enabled = 1 AND auth_status = 'active' \
         AND EXISTS (SELECT 1 FROM users WHERE users.id = $1 AND password_hash = $2)",
    )
    .bind(id)
    .bind(verified_hash)
    .execute(&mut *conn)
    .await?;
    if status.rows_affected() != 1 {
        return Ok(false);
    }
    let done = sqlx::query(
        "UPDATE users SET login_count = login_count + 1, last_login_at = $1 WHERE id = $2 AND password_hash = $3",
    )
    .bind(now)
    .bind(id)
    .bind(verified_hash)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replace a hash with a stronger one of the same password, unless it changed meanwhile.
pub async fn rehash_password(conn: &mut Conn, id: i64, old_hash: &str, new_hash: &str) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
        .bind(new_hash)
        .bind(id)
        .bind(old_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Set a new password hash; resolves a pending reset (see `domain::status`).
pub async fn set_password_hash(conn: &mut Conn, id: i64, hash: &str, now: Millis) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE user_status SET updated_at = $1, \
         auth_status = CASE WHEN auth_status = 'password_reset' THEN 'active' ELSE auth_status END, \
         failed_login_count = CASE WHEN auth_status = 'password_reset' THEN 0 ELSE failed_login_count END \
         WHERE user_id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn set_enabled(conn: &mut Conn, id: i64, enabled: bool, now: Millis) -> Result<bool> {
    let done = sqlx::query("UPDATE user_status SET enabled = $1, updated_at = $2 WHERE user_id = $3 AND enabled <> $1")
        .bind(flag(enabled))
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Set the status (and, with `Active`, clear the counter). Returns whether the row changed.
pub async fn set_auth_status(conn: &mut Conn, id: i64, status: AuthStatus, now: Millis) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE user_status SET auth_status = $1, updated_at = $2, \
         failed_login_count = CASE WHEN $1 = 'active' THEN 0 ELSE failed_login_count END WHERE user_id = $3",
    )
    .bind(status.as_str())
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Put these users in password reset (the status half of a mass reset; the
/// caller ends their sessions and mails them in the same transaction).
pub async fn mark_password_reset(conn: &mut Conn, user_ids: &[i64], now: Millis) -> Result<()> {
    if user_ids.is_empty() {
        return Ok(());
    }
    let mut sql = Sql::new("UPDATE user_status SET auth_status = 'password_reset', updated_at = ");
    sql.int(now).push(" WHERE user_id IN ").int_list(user_ids);
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

/// Appends ` AND` the user whose id is `user_id` belongs to one of `orgs`
/// (not empty): a probe per row the statement visits.
pub(crate) fn push_member_of_any(sql: &mut Sql, orgs: &[i64], user_id: &str) {
    sql.push(" AND EXISTS (SELECT 1 FROM user_organizations so WHERE so.user_id = ")
        .push(user_id)
        .push(" AND so.organization_id IN ")
        .int_list(orgs)
        .push(")");
}

/// Appends ` AND [NOT] EXISTS` a role of `roles` held by the user.
pub(crate) fn push_holds_any(sql: &mut Sql, roles: &[Role], holds: bool, user_id: &str) {
    sql.push(if holds { " AND EXISTS" } else { " AND NOT EXISTS" })
        .push(" (SELECT 1 FROM user_roles gr WHERE gr.user_id = ")
        .push(user_id)
        .push(" AND gr.role IN (");
    for (i, r) in roles.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.str(r.name());
    }
    sql.push("))");
}

/// Appends ` AND` the user holds none of `guarded` (roles whose holders the
/// actor may not act on; the set form of the domain's rule).
pub fn push_unguarded(sql: &mut Sql, guarded: &[Role]) {
    if !guarded.is_empty() {
        push_holds_any(sql, guarded, false, "users.id");
    }
}

/// How many users a mass enable/disable selects that it would change but
/// may not, because they hold one of `guarded`.
pub async fn count_guarded(
    conn: &mut Conn,
    scope: &Scope,
    f: &UserFilter,
    enabled: bool,
    skip_id: i64,
    guarded: &[Role],
) -> Result<u64> {
    if guarded.is_empty() {
        return Ok(0);
    }
    let scope = &effective_scope(conn, scope).await?;
    let mut sql = Sql::new(&format!("SELECT COUNT(*) FROM {USERS}"));
    push_where(&mut sql, Backend::of(conn), scope, f);
    sql.push(" AND enabled <> ")
        .int(flag(enabled))
        .push(" AND id <> ")
        .int(skip_id);
    push_holds_any(&mut sql, guarded, true, "users.id");
    let n: i64 = sql.query().fetch_one(&mut *conn).await?.try_get(0)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The users a mass enable/disable selects and would change, in id order:
/// those `f` selects in `scope` that are not in that state already, except
/// `skip_id` (the acting admin) and the holders of `guarded` roles. Taken
/// once, at the start, so the selection does not move while it is applied in
/// batches (a user disabled by the first batch is no longer "active").
pub async fn mass_enabled_selection(
    conn: &mut Conn,
    scope: &Scope,
    f: &UserFilter,
    enabled: bool,
    skip_id: i64,
    guarded: &[Role],
) -> Result<Vec<i64>> {
    let scope = &effective_scope(conn, scope).await?;
    let mut sql = Sql::new(&format!("SELECT id FROM {USERS}"));
    push_where(&mut sql, Backend::of(conn), scope, f);
    sql.push(" AND enabled <> ")
        .int(flag(enabled))
        .push(" AND id <> ")
        .int(skip_id);
    push_unguarded(&mut sql, guarded);
    sql.push(" ORDER BY id");
    // the ids only (8 bytes each, 2 MB for 250,000), mapped row by row
    Ok(sql.query_scalar().fetch_all(&mut *conn).await?)
}

/// Enable or disable the users `ids` (a batch of a selection taken by
/// [`mass_enabled_selection`]); returns the ids that changed. The rules are
/// checked again, as the selection may be seconds old: a user who left the
/// scope, took a guarded role or was changed meanwhile is not touched.
///
/// On SQLite the batch counts its own change ([`count_flipped`]) while the
/// per-row status triggers stand aside (a row in `counter_bypass`, migration
/// 0021), all in one transaction (a savepoint inside the caller's), so a
/// batch that fails leaves neither the flag nor a half count behind.
pub async fn set_enabled_batch(
    conn: &mut Conn,
    scope: &Scope,
    ids: &[i64],
    enabled: bool,
    guarded: &[Role],
    now: Millis,
) -> Result<Vec<i64>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let scope = &effective_scope(conn, scope).await?;
    // only the narrow status row changes: the wide users row, its indexes and
    // its search index are not touched (migration 0019)
    let mut sql = Sql::new("UPDATE user_status SET enabled = ");
    sql.int(flag(enabled))
        .push(", updated_at = ")
        .int(now)
        .push(" WHERE user_id IN ")
        .int_list(ids)
        .push(" AND enabled <> ")
        .int(flag(enabled));
    if let Scope::Organizations(orgs) = scope {
        if orgs.is_empty() {
            return Ok(Vec::new());
        }
        push_member_of_any(&mut sql, orgs, "user_status.user_id");
    }
    if !guarded.is_empty() {
        push_holds_any(&mut sql, guarded, false, "user_status.user_id");
    }
    sql.push(" RETURNING user_id, auth_status");
    // PostgreSQL's status triggers are per statement and count a batch from
    // their transition tables in one grouped statement each, cheaper than
    // count_flipped's statements over the id list (measured in migration 0021)
    let counts_itself = Backend::of(conn) == Backend::Sqlite;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    if counts_itself {
        sqlx::query("INSERT INTO counter_bypass (held_since) VALUES ($1)")
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    // a batch's id list is in its text: not kept in the statement cache (Sql::query)
    let changed: Vec<(i64, String)> = sql.query_as().fetch_all(&mut *tx).await?;
    if counts_itself {
        count_flipped(&mut tx, &changed, enabled).await?;
        sqlx::query("DELETE FROM counter_bypass").execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(changed.into_iter().map(|(id, _)| id).collect())
}

/// (SQLite) Move the users `changed` (id, status), whose `enabled` was just set to
/// `enabled` and whose status did not change, from the other value's counters
/// to this one's: one grouped statement per counter table, where SQLite's
/// per-row triggers made two statements per user (80% of a batch's UPDATE,
/// migration 0021). The users' statuses come from the UPDATE's RETURNING, so
/// `user_counts` needs no look-up.
async fn count_flipped(conn: &mut Conn, changed: &[(i64, String)], enabled: bool) -> Result<()> {
    if changed.is_empty() {
        return Ok(());
    }
    let (to, from) = (flag(enabled), flag(!enabled));
    let mut per_status: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for (_, status) in changed {
        *per_status.entry(status.as_str()).or_default() += 1;
    }
    let mut sql = Sql::new("INSERT INTO user_counts (enabled, auth_status, n) VALUES ");
    for (i, (status, n)) in per_status.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push("(")
            .int(to)
            .push(", ")
            .str(*status)
            .push(", ")
            .int(*n)
            .push("), ");
        sql.push("(")
            .int(from)
            .push(", ")
            .str(*status)
            .push(", ")
            .int(-n)
            .push(")");
    }
    sql.push(" ON CONFLICT (enabled, auth_status) DO UPDATE SET n = user_counts.n + excluded.n");
    sql.query().execute(&mut *conn).await?;

    let ids: Vec<i64> = changed.iter().map(|(id, _)| *id).collect();
    // each member once with +1 under the new value, once with -1 under the old
    let mut sql = Sql::new(
        "INSERT INTO user_org_counts (organization_id, enabled, auth_status, n) \
         SELECT m.organization_id, d.enabled, s.auth_status, SUM(d.d) \
         FROM user_organizations m JOIN user_status s ON s.user_id = m.user_id CROSS JOIN (SELECT ",
    );
    sql.int(to)
        .push(" AS enabled, 1 AS d UNION ALL SELECT ")
        .int(from)
        .push(", -1) d WHERE m.user_id IN ")
        .int_list(&ids)
        .push(
            " GROUP BY m.organization_id, d.enabled, s.auth_status \
             ON CONFLICT (organization_id, enabled, auth_status) DO UPDATE SET n = user_org_counts.n + excluded.n",
        );
    sql.query().execute(&mut *conn).await?;
    Ok(())
}

/// Enable or disable every user `f` selects in `scope` inside the caller's
/// transaction (see [`mass_enabled_selection`] for who is skipped); the
/// server's mass action commits in batches instead, with the same two steps.
pub async fn mass_set_enabled(
    conn: &mut Conn,
    scope: &Scope,
    f: &UserFilter,
    enabled: bool,
    skip_id: i64,
    guarded: &[Role],
    now: Millis,
) -> Result<u64> {
    let ids = mass_enabled_selection(conn, scope, f, enabled, skip_id, guarded).await?;
    let mut changed = 0;
    for batch in ids.chunks(MASS_BATCH) {
        changed += set_enabled_batch(conn, scope, batch, enabled, guarded, now)
            .await?
            .len() as u64;
    }
    Ok(changed)
}

/// Users changed per transaction by a mass enable/disable. On the narrow
/// `user_status` table (migration 0019) a row costs SQLite a few µs instead
/// of ~40 µs on the wide users row, so 10,000 hold the single writer for
/// about as long as 1,000 did (the server halves a batch that takes too long);
/// each batch also costs a commit and, on SQLite, a gap for waiting writers,
/// which at 1,000 per batch alone were 2.5 s per 100,000 users. On PostgreSQL
/// it bounds the row locks held at once.
pub const MASS_BATCH: usize = 10_000;

pub async fn delete(conn: &mut Conn, id: i64) -> Result<bool> {
    let done = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn count_all(conn: &mut Conn) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *conn)
        .await?)
}

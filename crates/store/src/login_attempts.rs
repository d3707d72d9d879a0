use muster_domain::Millis;
use sqlx::Row;

use crate::sql::Sql;
use crate::{Conn, Result, flag};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attempt {
    pub id: i64,
    pub at: Millis,
    pub username: String,
    pub user_id: Option<i64>,
    pub success: bool,
    /// `web` or `api`.
    pub source: String,
    pub ip: String,
    pub user_agent: String,
    pub reason: String,
    /// The step the attempt ended at: `password` (also when empty) or `second_factor`.
    pub step: String,
}

pub async fn insert(conn: &mut Conn, a: &Attempt) -> Result<()> {
    sqlx::query(
        "INSERT INTO login_attempts (at, username, user_id, success, source, ip, user_agent, reason, step) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(a.at)
    .bind(&a.username)
    .bind(a.user_id)
    .bind(flag(a.success))
    .bind(&a.source)
    .bind(&a.ip)
    .bind(&a.user_agent)
    .bind(&a.reason)
    .bind(if a.step.is_empty() { "password" } else { a.step.as_str() })
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// When the `n`-th most recent failed web sign-in from `ip` after `since`
/// happened (`n` from 1), or `None` if there were fewer: the per-address pause
/// of sign-ins counts with this, in the database, so it holds across instances.
/// The literals match the partial index `login_attempts_web_failures`
/// (migration 0010): the lookup reads at most `n` index entries.
pub async fn nth_recent_web_failure(conn: &mut Conn, ip: &str, since: Millis, n: i64) -> Result<Option<Millis>> {
    if n < 1 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT at FROM login_attempts \
         WHERE success = 0 AND source = 'web' AND ip = $1 AND at > $2 \
         ORDER BY at DESC LIMIT 1 OFFSET $3",
    )
    .bind(ip)
    .bind(since)
    .bind(n - 1)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub username: Option<String>,
    pub user_id: Option<i64>,
    pub success: Option<bool>,
    pub source: Option<String>,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    /// Only attempts on users of these organizations, or on no known user (a
    /// mistyped name tells nothing about another organization). `None`: all.
    pub organization_ids: Option<Vec<i64>>,
}

pub async fn list(conn: &mut Conn, f: &Filter, limit: i64, offset: i64) -> Result<Vec<Attempt>> {
    let mut sql = Sql::new(
        "SELECT id, at, username, user_id, success, source, ip, user_agent, reason, step FROM login_attempts WHERE 1 = 1",
    );
    if let Some(u) = f.username.as_deref().filter(|s| !s.is_empty()) {
        sql.push(" AND lower(username) = ").str(u.to_lowercase());
    }
    if let Some(id) = f.user_id {
        sql.push(" AND user_id = ").int(id);
    }
    if let Some(s) = f.success {
        sql.push(" AND success = ").int(flag(s));
    }
    if let Some(s) = f.source.as_deref().filter(|s| !s.is_empty()) {
        sql.push(" AND source = ").str(s);
    }
    if let Some(v) = f.from {
        sql.push(" AND at >= ").int(v);
    }
    if let Some(v) = f.to {
        sql.push(" AND at <= ").int(v);
    }
    if let Some(orgs) = &f.organization_ids {
        // `IN ()` is not SQL: no organization is an id that never exists
        let orgs = if orgs.is_empty() { vec![-1] } else { orgs.clone() };
        sql.push(" AND (user_id IS NULL OR NOT EXISTS (SELECT 1 FROM users WHERE users.id = login_attempts.user_id)")
            .push(" OR EXISTS (SELECT 1 FROM user_organizations uo WHERE uo.user_id = login_attempts.user_id")
            .push(" AND uo.organization_id IN ")
            .int_list(&orgs)
            .push("))");
    }
    sql.push(" ORDER BY at DESC, id DESC LIMIT ")
        .int(limit)
        .push(" OFFSET ")
        .int(offset);
    let rows = sql.query().fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            Ok(Attempt {
                id: r.try_get(0)?,
                at: r.try_get(1)?,
                username: r.try_get(2)?,
                user_id: r.try_get(3)?,
                success: r.try_get::<i64, _>(4)? != 0,
                source: r.try_get(5)?,
                ip: r.try_get(6)?,
                user_agent: r.try_get(7)?,
                reason: r.try_get(8)?,
                step: r.try_get(9)?,
            })
        })
        .collect()
}

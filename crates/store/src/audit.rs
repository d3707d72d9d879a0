//! Audit events: who did what to whom, when, from where, before and after.

use muster_domain::Millis;
use sqlx::Row;

use crate::sql::Sql;
use crate::{Conn, Result};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    pub id: i64,
    pub at: Millis,
    pub actor_id: Option<i64>,
    pub actor_username: String,
    pub action: String,
    pub target_id: Option<i64>,
    pub target_username: String,
    pub ip: String,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    /// The actor's full name as it is now (read by [`list`], never stored): empty
    /// for the system or a user who no longer exists.
    pub actor_name: String,
}

/// The writes of [`insert`], undone in the same transaction: no event is left
/// (*forgot password* for no account costs what a real request costs).
pub async fn insert_discarded(conn: &mut Conn, e: &Event) -> Result<()> {
    let id = insert(conn, e).await?;
    sqlx::query("DELETE FROM audit_events WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Write an event; its id.
pub async fn insert(conn: &mut Conn, e: &Event) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO audit_events (at, actor_id, actor_username, action, target_id, target_username, ip, before_json, after_json) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(e.at)
    .bind(e.actor_id)
    .bind(&e.actor_username)
    .bind(&e.action)
    .bind(e.target_id)
    .bind(&e.target_username)
    .bind(&e.ip)
    .bind(&e.before_json)
    .bind(&e.after_json)
    .fetch_one(&mut *conn)
    .await?)
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<String>,
    pub target: Option<String>,
    pub target_id: Option<i64>,
    pub action: Option<String>,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    /// Only events of these organizations (an administrator of some of them):
    /// about a user who belongs to one; or, when there is no such user any more
    /// (a deleted user, a settings change), done by a member of one or by the system.
    /// `None`: every event.
    pub organization_ids: Option<Vec<i64>>,
}

pub async fn list(conn: &mut Conn, f: &Filter, limit: i64, offset: i64) -> Result<Vec<Event>> {
    let mut sql = Sql::new(
        "SELECT id, at, actor_id, actor_username, action, target_id, target_username, ip, before_json, after_json, \
         (SELECT u.first_name || ' ' || u.last_name FROM users u WHERE u.id = audit_events.actor_id) \
         FROM audit_events WHERE 1 = 1",
    );
    if let Some(a) = f.actor.as_deref().filter(|s| !s.is_empty()) {
        sql.push(" AND lower(actor_username) = ").str(a.to_lowercase());
    }
    if let Some(t) = f.target.as_deref().filter(|s| !s.is_empty()) {
        sql.push(" AND lower(target_username) = ").str(t.to_lowercase());
    }
    if let Some(t) = f.target_id {
        sql.push(" AND target_id = ").int(t);
    }
    if let Some(a) = f.action.as_deref().filter(|s| !s.is_empty()) {
        sql.push(" AND action = ").str(a);
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
        let member = |sql: &mut Sql, col: &str| {
            sql.push(" EXISTS (SELECT 1 FROM user_organizations uo WHERE uo.user_id = audit_events.")
                .push(col)
                .push(" AND uo.organization_id IN ")
                .int_list(&orgs)
                .push(")");
        };
        sql.push(" AND (");
        member(&mut sql, "target_id");
        sql.push(
            " OR ((target_id IS NULL OR NOT EXISTS (SELECT 1 FROM users WHERE users.id = audit_events.target_id))",
        );
        sql.push(" AND (actor_id IS NULL OR");
        member(&mut sql, "actor_id");
        sql.push(")))");
    }
    sql.push(" ORDER BY at DESC, id DESC LIMIT ")
        .int(limit)
        .push(" OFFSET ")
        .int(offset);
    let rows = sql.query().fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            Ok(Event {
                id: r.try_get(0)?,
                at: r.try_get(1)?,
                actor_id: r.try_get(2)?,
                actor_username: r.try_get(3)?,
                action: r.try_get(4)?,
                target_id: r.try_get(5)?,
                target_username: r.try_get(6)?,
                ip: r.try_get(7)?,
                before_json: r.try_get(8)?,
                after_json: r.try_get(9)?,
                actor_name: r.try_get::<Option<String>, _>(10)?.unwrap_or_default(),
            })
        })
        .collect()
}

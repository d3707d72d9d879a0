use muster_domain::{Actor, AuditAction};
use muster_store::{Conn, audit, users::User};

use super::Ctx;
use crate::clock;
use crate::error::AppResult;

/// One audit event, as a service describes it.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub action: AuditAction,
    /// `None` for the system itself.
    pub actor: Option<&'a Actor>,
    pub target: Option<&'a User>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Write an audit event in the caller's transaction.
pub async fn record(conn: &mut Conn, ctx: &Ctx, e: Entry<'_>) -> AppResult<()> {
    audit::insert(conn, &event(ctx, e, clock::now())).await?;
    Ok(())
}

/// The stored row of an entry (for services that insert many at once).
pub fn event(ctx: &Ctx, e: Entry<'_>, at: muster_domain::Millis) -> audit::Event {
    audit::Event {
        id: 0,
        at,
        actor_id: e.actor.map(|a| a.user_id).filter(|id| *id > 0),
        actor_username: e.actor.map_or_else(|| "system".to_owned(), |a| a.username.clone()),
        action: e.action.code().to_owned(),
        target_id: e.target.map(|t| t.id),
        target_username: e.target.map(|t| t.username.clone()).unwrap_or_default(),
        ip: ctx.ip.clone(),
        before_json: e.before.map(|v| v.to_string()),
        after_json: e.after.map(|v| v.to_string()),
        actor_name: String::new(),
    }
}

/// The fields of a user worth keeping in an audit event (never the hash).
pub fn snapshot(u: &User) -> serde_json::Value {
    serde_json::json!({
        "username": u.username,
        "email": u.email,
        "firstName": u.first_name,
        "lastName": u.last_name,
        "enabled": u.enabled,
        "authStatus": u.auth_status.as_str(),
        "roles": u.roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
        "organizations": u.organizations,
    })
}

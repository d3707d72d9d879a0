use muster_domain::Actor;
use muster_store::{Conn, audit, users::User};

use super::Ctx;
use crate::clock;
use crate::error::AppResult;

/// Write an audit event in the caller's transaction. `actor` is `None` for the system itself.
pub async fn record(
    conn: &mut Conn,
    ctx: &Ctx,
    actor: Option<&Actor>,
    action: &str,
    target: Option<&User>,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> AppResult<()> {
    audit::insert(
        conn,
        &audit::Event {
            id: 0,
            at: clock::now(),
            actor_id: actor.map(|a| a.user_id).filter(|id| *id > 0),
            actor_username: actor.map_or_else(|| "system".to_owned(), |a| a.username.clone()),
            action: action.to_owned(),
            target_id: target.map(|t| t.id),
            target_username: target.map(|t| t.username.clone()).unwrap_or_default(),
            ip: ctx.ip.clone(),
            before_json: before.map(|v| v.to_string()),
            after_json: after.map(|v| v.to_string()),
        },
    )
    .await?;
    Ok(())
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

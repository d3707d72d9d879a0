//! Organizations: the ones a user belongs to, and creating one.

use muster_domain::Actor;
use muster_domain::Allowed;
use muster_domain::AuditAction;
use muster_domain::permission::perm;
use muster_store::organizations::{self, Organization};
use muster_store::{Store, users};

use super::{Ctx, audit};
use crate::clock;
use crate::error::AppResult;

/// The organizations the actor's user belongs to.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn list_mine(store: &Store, actor: &Actor) -> AppResult<Vec<Organization>> {
    let mut conn = store.conn().await?;
    let mine = users::organization_ids(&mut conn, actor.user_id).await?;
    let all = organizations::list(&mut conn).await?;
    Ok(all.into_iter().filter(|o| mine.contains(&o.id)).collect())
}

/// Create an organization; its creator becomes a member, so they can act in it.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn create(
    store: &Store,
    grant: &Allowed<perm::ManageOrganizations>,
    ctx: &Ctx,
    name: &str,
) -> AppResult<Organization> {
    let actor = grant.actor();
    let mut tx = store.begin().await?;
    let org = organizations::create(&mut tx, name, clock::now()).await?;
    if let Some(me) = users::get(&mut tx, actor.user_id).await? {
        let mut orgs = users::organization_ids(&mut tx, me.id).await?;
        orgs.push(org.id);
        users::set_organizations(&mut tx, me.id, &orgs).await?;
    }
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::OrganizationCreated,
            actor: Some(actor),
            target: None,
            before: None,
            after: Some(serde_json::json!({"organization": org.name})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(org)
}

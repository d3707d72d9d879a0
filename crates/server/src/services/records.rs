//! Records of the business application, within the actor's organizations.
//! A record's owner must belong to the record's organization.

use muster_domain::AuditAction;
use muster_domain::permission::perm;
use muster_domain::{Actor, Allowed, Error as DomainError};
use muster_store::records::{self, Record};
use muster_store::{Conn, Store, users};

use super::{Ctx, audit};
use crate::clock;
use crate::error::{AppError, AppResult};

pub struct RecordInput {
    pub kind: String,
    pub title: String,
    pub owner_id: i64,
}

#[derive(Default)]
pub struct RecordPatch {
    pub kind: Option<String>,
    pub title: Option<String>,
    pub owner_id: Option<i64>,
}

pub struct RecordPage {
    pub records: Vec<Record>,
    pub has_more: bool,
}

#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn list(
    store: &Store,
    grant: &Allowed<perm::ManageRecords>,
    owner: Option<i64>,
    page: i64,
    size: i64,
) -> AppResult<RecordPage> {
    let mut conn = store.conn().await?;
    let size = size.clamp(1, 1000);
    let offset = (page.max(1) - 1).saturating_mul(size);
    // one more than a page tells whether there is a next page without counting
    let mut rows = records::list(&mut conn, &grant.actor().organization_ids, owner, size + 1, offset).await?;
    let has_more = rows.len() > usize::try_from(size).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(size).unwrap_or(0));
    Ok(RecordPage {
        records: rows,
        has_more,
    })
}

async fn load(conn: &mut Conn, actor: &Actor, id: i64) -> AppResult<Record> {
    match records::get(conn, id).await? {
        Some(r) if actor.organization_ids.contains(&r.organization_id) => Ok(r),
        _ => Err(AppError::not_found("record")),
    }
}

#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn get(store: &Store, grant: &Allowed<perm::ManageRecords>, id: i64) -> AppResult<Record> {
    let mut conn = store.conn().await?;
    load(&mut conn, grant.actor(), id).await
}

/// The owner's organizations among `candidates`; an owner outside them is an unknown user.
async fn owner_orgs(conn: &mut Conn, owner_id: i64, candidates: &[i64]) -> AppResult<(users::User, Vec<i64>)> {
    let unknown = || AppError::from(DomainError::invalid("owner_id", format!("unknown user {owner_id}")));
    let owner = users::get(conn, owner_id).await?.ok_or_else(unknown)?;
    let orgs: Vec<i64> = users::organization_ids(conn, owner_id)
        .await?
        .into_iter()
        .filter(|o| candidates.contains(o))
        .collect();
    if orgs.is_empty() {
        return Err(unknown());
    }
    Ok((owner, orgs))
}

fn snapshot(r: &Record) -> serde_json::Value {
    serde_json::json!({"id": r.id, "kind": r.kind, "title": r.title, "ownerId": r.owner_id})
}

#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn create(
    store: &Store,
    grant: &Allowed<perm::ManageRecords>,
    ctx: &Ctx,
    input: &RecordInput,
) -> AppResult<Record> {
    let actor = grant.actor();
    let kind = records::parse_kind(&input.kind);
    let title = records::parse_title(&input.title);
    let (kind, title) = collect(kind, title)?;
    let mut tx = store.begin().await?;
    let (owner, orgs) = owner_orgs(&mut tx, input.owner_id, &actor.organization_ids).await?;
    let id = records::insert(&mut tx, &kind, &title, owner.id, orgs[0], clock::now()).await?;
    let record = records::get(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("record"))?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::RecordCreated,
            actor: Some(actor),
            target: Some(&owner),
            before: None,
            after: Some(snapshot(&record)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(record)
}

#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn update(
    store: &Store,
    grant: &Allowed<perm::ManageRecords>,
    ctx: &Ctx,
    id: i64,
    patch: &RecordPatch,
) -> AppResult<Record> {
    let actor = grant.actor();
    let kind = patch.kind.as_deref().map(records::parse_kind).transpose();
    let title = patch.title.as_deref().map(records::parse_title).transpose();
    let (kind, title) = collect(kind, title)?;
    let mut tx = store.begin().await?;
    let before = load(&mut tx, actor, id).await?;
    let mut after = before.clone();
    if let Some(k) = kind {
        after.kind = k;
    }
    if let Some(t) = title {
        after.title = t;
    }
    if let Some(owner_id) = patch.owner_id {
        // the record stays in its organization: the new owner must belong to it
        owner_orgs(&mut tx, owner_id, &[before.organization_id]).await?;
        after.owner_id = owner_id;
    }
    records::update(&mut tx, &after, clock::now()).await?;
    let after = records::get(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("record"))?;
    let owner = users::get(&mut tx, after.owner_id).await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry {
            action: AuditAction::RecordUpdated,
            actor: Some(actor),
            target: owner.as_ref(),
            before: Some(snapshot(&before)),
            after: Some(snapshot(&after)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Both field results at once, so every problem is reported together.
fn collect<A, B>(a: muster_store::Result<A>, b: muster_store::Result<B>) -> AppResult<(A, B)> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => {
            let mut fields = Vec::new();
            for e in [a.err(), b.err()].into_iter().flatten() {
                match AppError::from(e) {
                    AppError::Domain(DomainError::Invalid(f)) => fields.extend(f),
                    other => return Err(other),
                }
            }
            Err(DomainError::Invalid(fields).into())
        }
    }
}

//! Each administrator's own saved views of the users grid. A view belongs to
//! the admin who saved it; nobody else sees or changes it.

use muster_domain::permission::perm;
use muster_domain::{Allowed, Error as DomainError};
use muster_store::Store;
use muster_store::saved_views::{self, SavedView};

use crate::clock;
use crate::error::{AppError, AppResult};

fn parse_name(raw: &str) -> AppResult<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(DomainError::invalid("name", "is required").into());
    }
    if name.chars().count() > 60 || name.chars().any(char::is_control) {
        return Err(DomainError::invalid("name", "must be at most 60 characters without control characters").into());
    }
    Ok(name.to_owned())
}

#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn list(store: &Store, grant: &Allowed<perm::ViewUsers>) -> AppResult<Vec<SavedView>> {
    let mut conn = store.conn().await?;
    Ok(saved_views::list(&mut conn, grant.actor().user_id).await?)
}

#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn get(store: &Store, grant: &Allowed<perm::ViewUsers>, id: i64) -> AppResult<SavedView> {
    let mut conn = store.conn().await?;
    saved_views::get(&mut conn, grant.actor().user_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("saved view"))
}

#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn default_view(store: &Store, grant: &Allowed<perm::ViewUsers>) -> AppResult<Option<SavedView>> {
    let mut conn = store.conn().await?;
    Ok(saved_views::get_default(&mut conn, grant.actor().user_id).await?)
}

/// Save `query` (the grid's canonical query string) under a new name.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn save(store: &Store, grant: &Allowed<perm::ViewUsers>, name: &str, query: &str) -> AppResult<i64> {
    let owner = grant.actor().user_id;
    let name = parse_name(name)?;
    let mut tx = store.begin().await?;
    if saved_views::name_taken(&mut tx, owner, &name, 0).await? {
        return Err(DomainError::invalid("name", format!("you already have a view named {name:?}")).into());
    }
    let id = saved_views::insert(&mut tx, owner, &name, query, clock::now()).await?;
    tx.commit().await?;
    Ok(id)
}

#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn rename(store: &Store, grant: &Allowed<perm::ViewUsers>, id: i64, name: &str) -> AppResult<()> {
    let owner = grant.actor().user_id;
    let name = parse_name(name)?;
    let mut tx = store.begin().await?;
    if saved_views::name_taken(&mut tx, owner, &name, id).await? {
        return Err(DomainError::invalid("name", format!("you already have a view named {name:?}")).into());
    }
    if !saved_views::rename(&mut tx, owner, id, &name, clock::now()).await? {
        return Err(AppError::not_found("saved view"));
    }
    tx.commit().await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(id = id), err(level = "debug"))]
pub async fn delete(store: &Store, grant: &Allowed<perm::ViewUsers>, id: i64) -> AppResult<()> {
    let mut conn = store.conn().await?;
    if !saved_views::delete(&mut conn, grant.actor().user_id, id).await? {
        return Err(AppError::not_found("saved view"));
    }
    Ok(())
}

/// Make a view the default (`None`: back to the built-in *Active users*).
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn set_default(store: &Store, grant: &Allowed<perm::ViewUsers>, id: Option<i64>) -> AppResult<()> {
    let owner = grant.actor().user_id;
    let mut tx = store.begin().await?;
    if let Some(id) = id
        && saved_views::get(&mut tx, owner, id).await?.is_none()
    {
        return Err(AppError::not_found("saved view"));
    }
    saved_views::set_default(&mut tx, owner, id, clock::now()).await?;
    tx.commit().await?;
    Ok(())
}

use muster_domain::{Error as DomainError, Millis, OrganizationName};
use sqlx::Row;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: i64,
    pub name: String,
    pub created_at: Millis,
}

/// The rules of an organization's name live in the domain: NFKC, one script, nothing hidden.
fn parse_name(raw: &str) -> Result<String> {
    Ok(OrganizationName::parse(raw)?.into_string())
}

pub async fn create(conn: &mut Conn, raw_name: &str, now: Millis) -> Result<Organization> {
    let name = parse_name(raw_name)?;
    if find_by_name(conn, &name).await?.is_some() {
        return Err(DomainError::Conflict { field: "name".into() }.into());
    }
    let id: i64 =
        sqlx::query_scalar("INSERT INTO organizations (name, name_lc, created_at) VALUES ($1, $2, $3) RETURNING id")
            .bind(&name)
            .bind(name.to_lowercase())
            .bind(now)
            .fetch_one(&mut *conn)
            .await?;
    Ok(Organization {
        id,
        name,
        created_at: now,
    })
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Organization> {
    Ok(Organization {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn find_by_name(conn: &mut Conn, name: &str) -> Result<Option<Organization>> {
    let row = sqlx::query("SELECT id, name, created_at FROM organizations WHERE name_lc = $1")
        // the stored names are NFKC: look up in the same form
        .bind(muster_domain::identifier::nfkc(name.trim()).to_lowercase())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<Organization>> {
    let row = sqlx::query("SELECT id, name, created_at FROM organizations WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(conn: &mut Conn) -> Result<Vec<Organization>> {
    let rows = sqlx::query("SELECT id, name, created_at FROM organizations ORDER BY name")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Organization names to ids; an unknown name is an error that names it.
pub async fn resolve_names(conn: &mut Conn, names: &[String]) -> Result<Vec<i64>> {
    let mut ids = Vec::new();
    for n in names {
        match find_by_name(conn, n).await? {
            Some(o) => ids.push(o.id),
            None => return Err(DomainError::invalid("organizations", format!("unknown organization {n:?}")).into()),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

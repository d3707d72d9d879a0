use muster_domain::AuditAction;
use muster_domain::permission::perm;
use muster_domain::{Allowed, Error as DomainError, FieldError};
use muster_store::Store;

use super::{Ctx, audit};
use crate::clock;
use crate::error::AppResult;
use crate::settings::{DESCRIPTORS, check_consistency, parse_value};

/// Save every setting from `form` (key → raw value); all or nothing.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn update(
    store: &Store,
    grant: &Allowed<perm::ManageSettings>,
    ctx: &Ctx,
    form: &[(String, String)],
) -> AppResult<()> {
    let mut values = Vec::new();
    let mut errors: Vec<FieldError> = Vec::new();
    for d in DESCRIPTORS {
        let raw = form.iter().find(|(k, _)| k == d.key).map(|(_, v)| v.as_str());
        match parse_value(d, raw) {
            Ok(v) => values.push((d.key, v)),
            Err(e) => errors.push(e),
        }
    }
    errors.extend(check_consistency(&values));
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors).into());
    }
    let mut tx = store.begin().await?;
    let before = crate::settings::Settings::load(&mut tx).await?;
    let now = clock::now();
    let mut changed = serde_json::Map::new();
    for (k, v) in &values {
        if before.get(k) != *v {
            changed.insert((*k).to_owned(), serde_json::json!(v));
        }
        muster_store::settings::put(&mut tx, k, &v.to_string(), now).await?;
    }
    if !changed.is_empty() {
        audit::record(
            &mut tx,
            ctx,
            audit::Entry {
                action: AuditAction::SettingsUpdated,
                actor: Some(grant.actor()),
                target: None,
                before: None,
                after: Some(serde_json::Value::Object(changed)),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

//! Users still on a password hash made by another application: the Argon2id
//! upgrade at their first sign-in, how many are left per scheme, and a
//! reset of those still on a scheme.

use muster_domain::Allowed;
use muster_domain::AuditAction;
use muster_domain::password_hash::{Scheme, scheme_of};
use muster_domain::permission::perm;
use muster_store::users::User;
use muster_store::{Store, password_schemes};

use super::{Ctx, audit, passwords};
use crate::app::AppState;
use crate::error::AppResult;
use crate::hashing::{Hasher, Params};

/// After a successful sign-in with a hash that needs replacing (a foreign
/// scheme, or Argon2 with other parameters): hash `password` with Argon2id and
/// store it if the hash is still the one verified. Leaving a foreign scheme is
/// audited as `user.password_rehashed`.
pub async fn rehash_at_sign_in(
    store: &Store,
    hasher: &Hasher,
    user: &User,
    password: &str,
    params: Params,
    ctx: &Ctx,
) -> AppResult<()> {
    let new_hash = hasher.hash(password.to_owned(), params).await?;
    let mut tx = store.begin().await?;
    let replaced = password_schemes::rehash(&mut tx, user.id, &user.password_hash, &new_hash).await?;
    if let Some(scheme) = scheme_of(&user.password_hash).filter(|s| *s != Scheme::Argon2)
        && replaced
    {
        let me = super::auth::actor_for(&mut tx, user).await?;
        audit::record(
            &mut tx,
            ctx,
            audit::Entry {
                action: AuditAction::UserPasswordRehashed,
                actor: Some(&me),
                target: Some(user),
                before: Some(serde_json::json!({"passwordScheme": scheme.key()})),
                after: Some(serde_json::json!({"passwordScheme": "argon2id"})),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Set the hasher's failure floor (`Hasher::verify`) to the slowest check of
/// a hash still stored: every foreign hash is walked once, one hash of each
/// cost class (`ParsedHash::cost_class`) is checked twice with a password
/// that cannot match, and the slower time counts. With no foreign hash left
/// the floor is zero: Argon2 users and the dummy cost the same already.
/// Returns the floor and how many classes were timed.
pub async fn calibrate_failure_floor(store: &Store, hasher: &Hasher) -> AppResult<(std::time::Duration, usize)> {
    let prefixes: Vec<&str> = Scheme::FOREIGN
        .iter()
        .flat_map(|s| s.prefixes().iter().copied())
        .collect();
    let mut classes: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut after = 0;
    loop {
        let page = password_schemes::hashes_after(&mut *store.conn().await?, &prefixes, after, 2_000).await?;
        let Some(last) = page.last() else { break };
        after = last.0;
        for (_, hash) in page {
            if let Ok(parsed) = muster_domain::password_hash::parse(&hash)
                && !parsed.is_weak()
            {
                classes.entry(parsed.cost_class()).or_insert(hash);
            }
        }
    }
    let mut slowest = std::time::Duration::ZERO;
    for hash in classes.values() {
        for _ in 0..2 {
            slowest = slowest.max(hasher.time_failure(hash.clone()).await?);
        }
    }
    hasher.set_failure_floor(slowest);
    Ok((hasher.failure_floor(), classes.len()))
}

/// How often `serve` times the stored hashes again: an import by another
/// process (the CLI, another instance) brings new classes, a sign-in upgrade
/// takes them away.
pub const CALIBRATE_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// Calibrate every `CALIBRATE_EVERY` from now on, for as long as the process runs.
pub fn spawn_recalibration(store: Store, hasher: Hasher) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(CALIBRATE_EVERY).await;
            match calibrate_failure_floor(&store, &hasher).await {
                Ok((floor, classes)) => {
                    tracing::info!(
                        floor_ms = floor.as_millis() as u64,
                        classes,
                        "sign-in failure floor set"
                    );
                }
                Err(e) => tracing::warn!(error = %e, "timing the stored password hashes failed"),
            }
        }
    })
}

fn all_prefixes() -> Vec<(&'static str, &'static [&'static str])> {
    Scheme::FOREIGN.iter().map(|s| (s.key(), s.prefixes())).collect()
}

/// How many users are on each foreign scheme, in the order of `Scheme::FOREIGN`;
/// schemes nobody is on are left out.
pub async fn counts(store: &Store) -> AppResult<Vec<(Scheme, i64)>> {
    let rows = password_schemes::count_by_scheme(&mut *store.conn().await?, &all_prefixes()).await?;
    Ok(Scheme::FOREIGN
        .into_iter()
        .filter_map(|s| rows.iter().find(|(k, _)| k == s.key()).map(|(_, n)| (s, *n)))
        .collect())
}

/// Reset Password for every user still on `scheme`, as the mass action does
/// (disabled users and the acting admin are skipped; one mail each).
pub async fn reset_scheme(
    state: &AppState,
    grant: &Allowed<perm::ResetPasswords>,
    ctx: &Ctx,
    scheme: Scheme,
) -> AppResult<passwords::MassResult> {
    let ids = password_schemes::user_ids_on(&mut *state.store.conn().await?, scheme.prefixes()).await?;
    if ids.is_empty() {
        return Ok(passwords::MassResult::default());
    }
    let users = muster_domain::UserFilter {
        only_ids: Some(ids),
        ..Default::default()
    };
    passwords::mass_reset_password(state, grant, ctx, &users).await
}

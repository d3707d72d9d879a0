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

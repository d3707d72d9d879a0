//! On an empty database: the organization *Main* and the administrator `admin`.

use muster_domain::{AuthStatus, EmailAddress, PersonName, Role, Username};
use muster_store::{Store, organizations, users};

use crate::clock;
use crate::error::{AppError, AppResult};
use crate::hashing::Hasher;
use crate::settings::Settings;

/// Returns the generated password when one was made (to print once).
#[tracing::instrument(skip_all, err(level = "debug"))]
pub async fn ensure_admin(store: &Store, hasher: &Hasher, env_password: Option<String>) -> AppResult<Option<String>> {
    match create_first_admin(store, hasher, env_password).await {
        Ok(p) => Ok(p),
        Err(e) => {
            // Several instances may start at once on one PostgreSQL: the one that
            // lost the race finds the admin made by the other and goes on.
            let mut conn = store.conn().await?;
            if users::count_all(&mut conn).await? > 0 {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

async fn create_first_admin(store: &Store, hasher: &Hasher, env_password: Option<String>) -> AppResult<Option<String>> {
    let mut tx = store.begin().await?;
    if users::count_all(&mut tx).await? > 0 {
        return Ok(None);
    }
    let settings = Settings::load(&mut tx).await?;
    let org = match organizations::find_by_name(&mut tx, "Main").await? {
        Some(o) => o,
        None => organizations::create(&mut tx, "Main", clock::now()).await?,
    };
    let (password, generated) = match env_password.filter(|p| !p.is_empty()) {
        Some(p) => (p, false),
        None => (crate::crypto::suggest_password(&settings.password_policy()), true),
    };
    let hash = hasher.hash(password.clone(), settings.argon2()).await?;
    users::insert(
        &mut tx,
        &users::NewUser {
            username: Username::parse("admin").map_err(AppError::from)?,
            email: EmailAddress::parse("admin@example.com").map_err(AppError::from)?,
            first_name: PersonName::parse("first_name", "Admin").map_err(AppError::from)?,
            last_name: PersonName::parse("last_name", "User").map_err(AppError::from)?,
            enabled: true,
            auth_status: AuthStatus::Active,
            password_hash: hash,
            roles: vec![Role::Administrator],
            organization_ids: vec![org.id],
        },
        clock::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(generated.then_some(password))
}

//! Passkeys (migration 0016): `second_factors` rows of kind `passkey`, and the
//! WebAuthn ceremonies waiting for the browser's answer. What a credential
//! holds and how it is checked is webauthn-rs's business in the server; these
//! are the statements.

use muster_domain::Millis;
use sqlx::Row;

use crate::{Conn, Result};

/// The `kind` of a passkey factor.
pub const PASSKEY: &str = "passkey";

/// One registered passkey.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// Base64url of the credential id.
    pub credential_id: String,
    /// The credential as webauthn-rs serialises it (JSON).
    pub credential: String,
    pub created_at: Millis,
}

// The credential (a public key and a counter) is not secret, but it has no
// place in a log line either.
impl std::fmt::Debug for StoredPasskey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredPasskey")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, user_id, name, credential_id, secret, created_at";

fn row_to(r: &sqlx::any::AnyRow) -> Result<StoredPasskey> {
    Ok(StoredPasskey {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        name: r.try_get(2)?,
        credential_id: r.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
        credential: r.try_get(4)?,
        created_at: r.try_get(5)?,
    })
}

/// A user's passkeys, oldest first.
pub async fn list(conn: &mut Conn, user_id: i64) -> Result<Vec<StoredPasskey>> {
    let sql = format!("SELECT {COLUMNS} FROM second_factors WHERE user_id = $1 AND kind = $2 ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(PASSKEY)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(row_to).collect()
}

/// The passkey with this credential id, whoever holds it.
pub async fn by_credential_id(conn: &mut Conn, credential_id: &str) -> Result<Option<StoredPasskey>> {
    let sql = format!("SELECT {COLUMNS} FROM second_factors WHERE credential_id = $1 AND kind = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(credential_id)
        .bind(PASSKEY)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(row_to).transpose()
}

/// Store a registered passkey (confirmed at once: the ceremony proved it).
/// False if the credential is already registered (to anyone).
pub async fn insert(
    conn: &mut Conn,
    user_id: i64,
    name: &str,
    credential_id: &str,
    credential: &str,
    now: Millis,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO second_factors (user_id, kind, secret, name, credential_id, last_step, created_at, confirmed_at) \
         SELECT $1, $2, $3, $4, $5, 0, $6, $6 \
         WHERE NOT EXISTS (SELECT 1 FROM second_factors WHERE credential_id = $5)",
    )
    .bind(user_id)
    .bind(PASSKEY)
    .bind(credential)
    .bind(name)
    .bind(credential_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Keep the credential's new state (its signature counter) after a sign-in.
pub async fn update_credential(conn: &mut Conn, id: i64, credential: &str) -> Result<()> {
    sqlx::query("UPDATE second_factors SET secret = $1 WHERE id = $2 AND kind = $3")
        .bind(credential)
        .bind(id)
        .bind(PASSKEY)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Remove one of the user's passkeys; the removed row, if it was theirs.
pub async fn delete(conn: &mut Conn, user_id: i64, id: i64) -> Result<Option<StoredPasskey>> {
    let sql = format!("DELETE FROM second_factors WHERE id = $1 AND user_id = $2 AND kind = $3 RETURNING {COLUMNS}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(user_id)
        .bind(PASSKEY)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(row_to).transpose()
}

/// A ceremony's state, as [`take_ceremony`] returns it.
pub struct Ceremony {
    pub user_id: Option<i64>,
    pub state: String,
    pub expires_at: Millis,
}

/// Keep the state of a ceremony just started; it replaces an earlier one of
/// the same owner and purpose (a second click starts afresh).
pub async fn put_ceremony(
    conn: &mut Conn,
    owner_hash: &str,
    purpose: &str,
    user_id: Option<i64>,
    state: &str,
    expires_at: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO passkey_ceremonies (owner_hash, purpose, user_id, state, expires_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (owner_hash, purpose) DO UPDATE SET user_id = excluded.user_id, state = excluded.state, \
         expires_at = excluded.expires_at",
    )
    .bind(owner_hash)
    .bind(purpose)
    .bind(user_id)
    .bind(state)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Take (delete and return) a ceremony: one statement, so an answer is
/// checked against its challenge once, even by two requests on two instances.
/// An expired one is taken too and returned with its `expires_at` for the
/// caller to refuse.
pub async fn take_ceremony(conn: &mut Conn, owner_hash: &str, purpose: &str) -> Result<Option<Ceremony>> {
    let row = sqlx::query(
        "DELETE FROM passkey_ceremonies WHERE owner_hash = $1 AND purpose = $2 RETURNING user_id, state, expires_at",
    )
    .bind(owner_hash)
    .bind(purpose)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(Ceremony {
            user_id: r.try_get(0)?,
            state: r.try_get(1)?,
            expires_at: r.try_get(2)?,
        })
    })
    .transpose()
}

pub async fn delete_expired_ceremonies(conn: &mut Conn, now: Millis) -> Result<u64> {
    let done = sqlx::query("DELETE FROM passkey_ceremonies WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

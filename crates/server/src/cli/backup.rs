//! `muster backup --out FILE` and `muster restore FILE`.
//!
//! SQLite: `VACUUM INTO` writes a consistent copy of the database as of one
//! transaction, while `muster serve` goes on reading and writing (WAL mode: the
//! copy is a reader; writers are not blocked). The copy is written beside its
//! target as `FILE.partial`, checked with `PRAGMA integrity_check`, then
//! renamed, so a FILE that exists is a whole backup.
//!
//! PostgreSQL: muster does not copy a server's database itself; the way is
//! `pg_dump`, printed with the database URL (its password hidden) — see
//! docs/operations.md.
//!
//! Restore (SQLite): into a data dir whose database does not exist yet (stop
//! `muster serve` and move the old file away first), then migrate, so a backup
//! of an older muster opens in this one.

use std::path::{Path, PathBuf};
use std::time::Instant;

use sqlx::Connection;

use crate::config::Config;
use crate::error::AppError;

/// The file of a `sqlite:` URL (`sqlite://path?mode=rwc` → `path`).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// The line that backs up a PostgreSQL database.
pub fn pg_dump_line(config: &Config, out: &Path) -> String {
    format!(
        "pg_dump --format=custom --no-owner --file {} '{}'",
        out.display(),
        config.database_url.redacted()
    )
}

fn internal(what: &str, e: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> AppError {
    AppError::fault(what, e)
}

async fn open_file(path: &Path, mode: &str) -> Result<sqlx::AnyConnection, AppError> {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode={mode}", path.display());
    sqlx::AnyConnection::connect(&url)
        .await
        .map_err(|e| internal(&format!("cannot open {}", path.display()), e))
}

/// `PRAGMA integrity_check` and the number of users of a database file.
async fn check_copy(path: &Path) -> Result<i64, AppError> {
    let mut conn = open_file(path, "ro").await?;
    let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| internal("checking the copy", e))?;
    if verdict != "ok" {
        return Err(AppError::Internal(format!(
            "{} is damaged: integrity check says {verdict}",
            path.display()
        )));
    }
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| internal(&format!("{} holds no muster database", path.display()), e))?;
    let _ = conn.close().await;
    Ok(users)
}

pub async fn backup(config: &Config, out: &Path) -> Result<(), AppError> {
    let Some(db) = sqlite_path(config.database_url.expose()) else {
        return Err(AppError::Internal(format!(
            "muster backup copies SQLite databases; back up PostgreSQL with pg_dump:\n  {}\n\
             and restore with pg_restore (see docs/operations.md)",
            pg_dump_line(config, out)
        )));
    };
    if !db.exists() {
        return Err(AppError::Internal(format!(
            "there is no database at {} to back up",
            db.display()
        )));
    }
    if out.exists() {
        return Err(AppError::Internal(format!(
            "{} already exists; choose another name or move it away",
            out.display()
        )));
    }
    let started = Instant::now();
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    let _ = std::fs::remove_file(&partial);
    let mut conn = open_file(&db, "rw").await?;
    // one statement, one read transaction: a consistent copy while writers go on
    let copied = sqlx::query("VACUUM INTO $1")
        .bind(partial.display().to_string())
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(internal(&format!("copying {} failed", db.display()), e));
    }
    let users = match check_copy(&partial).await {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, out).map_err(|e| internal(&format!("cannot write {}", out.display()), e))?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    println!(
        "backed up {users} users to {} ({:.1} MB) in {:.1} s",
        out.display(),
        bytes as f64 / 1_048_576.0,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub async fn restore(config: &Config, from: &Path) -> Result<(), AppError> {
    let Some(db) = sqlite_path(config.database_url.expose()) else {
        return Err(AppError::Internal(
            "muster restore fills a SQLite data dir; restore PostgreSQL with pg_restore (see docs/operations.md)"
                .to_owned(),
        ));
    };
    if db.exists() {
        return Err(AppError::Internal(format!(
            "{} already exists; stop muster serve and move it (and any -wal and -shm files beside it) away \
             before restoring",
            db.display()
        )));
    }
    let users = check_copy(from).await?;
    if let Some(dir) = db.parent() {
        std::fs::create_dir_all(dir).map_err(|e| internal(&format!("cannot create {}", dir.display()), e))?;
    }
    let partial = PathBuf::from(format!("{}.partial", db.display()));
    let _ = std::fs::remove_file(&partial);
    std::fs::copy(from, &partial).map_err(|e| internal(&format!("cannot write {}", partial.display()), e))?;
    std::fs::rename(&partial, &db).map_err(|e| internal(&format!("cannot write {}", db.display()), e))?;
    // a backup of an older muster: bring it up to this one's schema
    crate::cli::open_store(config).await?;
    println!("restored {users} users into {}", db.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://./muster-data/muster.db?mode=rwc"),
            Some(PathBuf::from("./muster-data/muster.db"))
        );
        assert_eq!(sqlite_path("sqlite:/tmp/x.db"), Some(PathBuf::from("/tmp/x.db")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://u@h/db"), None);
    }
}

//! `muster export users` and `muster import users`: the same CSV as the
//! Exports page, with a progress bar on a terminal.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use indicatif::ProgressBar;
use muster_domain::permission::perm;
use muster_domain::{Error as DomainError, UserFilter};
use muster_store::Store;
use muster_store::users::{self, Scope};
use tokio::io::AsyncWriteExt;

use crate::error::{AppError, AppResult};
use crate::services::{Ctx, imports};
use crate::settings::Settings;
use crate::user_csv::columns::exportable;
use crate::user_csv::export::{BeforePage, Position, header, stream};

#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// Write every user to a CSV file (the fields marked exportable in Settings).
    Users {
        /// The file to write; it appears only when complete.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Create or update users (matched by username) from a CSV file of `muster export users`
    /// (or an Oro export of users).
    Users {
        file: PathBuf,
        /// Check every row and list the rejected ones; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Import rows whose password hash is of a weak scheme (unsalted MD5/SHA-1, bcrypt under
        /// cost 10, …) without the hash: those users are put in Password reset and mailed a link.
        #[arg(long)]
        allow_weak_hashes: bool,
    },
    /// Create or update users from `manage.py dumpdata auth.user` (JSON).
    Django(crate::cli::import_foreign::DjangoArgs),
    /// Create or update users from a Keycloak realm export (JSON).
    Keycloak(crate::cli::import_foreign::KeycloakArgs),
}

pub(crate) use crate::progress::{Counting, bar};

struct Progress(ProgressBar);

impl BeforePage for Progress {
    async fn before_page(&mut self, pos: Position) -> AppResult<bool> {
        self.0.set_position(u64::try_from(pos.rows).unwrap_or(0));
        Ok(true)
    }
}

pub(crate) fn io(what: &str, path: &Path, e: std::io::Error) -> AppError {
    AppError::fault(format!("{what} {}", path.display()), e)
}

/// Every user, synchronously, to `out` (through `out.partial`, renamed when complete).
pub async fn export_users(store: &Store, out: &Path) -> AppResult<i64> {
    let columns = exportable(&Settings::load(&mut *store.conn().await?).await?);
    if columns.is_empty() {
        return Err(DomainError::Refused("No user field is marked exportable in Settings.".to_owned()).into());
    }
    let filter = UserFilter::default();
    let total = users::count(&mut *store.conn().await?, &Scope::System, &filter).await?;
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let mut file = tokio::fs::File::create(&partial)
        .await
        .map_err(|e| io("creating", &partial, e))?;
    let head = header(&columns)?;
    file.write_all(&head).await.map_err(|e| io("writing", &partial, e))?;
    let pb = bar(u64::try_from(total).unwrap_or(0), "export", Counting::Items("users"));
    let start = Position {
        bytes: head.len() as u64,
        ..Default::default()
    };
    let mut progress = Progress(pb.clone());
    let end = match stream(
        store,
        &Scope::System,
        &filter,
        &columns,
        &mut file,
        start,
        &mut progress,
    )
    .await
    {
        Ok(Some(end)) => end,
        other => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(other
                .err()
                .unwrap_or_else(|| AppError::Internal("the export stopped".into())));
        }
    };
    file.sync_all().await.map_err(|e| io("syncing", &partial, e))?;
    drop(file);
    tokio::fs::rename(&partial, out)
        .await
        .map_err(|e| io("renaming", &partial, e))?;
    pb.finish_and_clear();
    Ok(end.rows)
}

pub async fn export(cmd: ExportCommand, store: &Store) -> AppResult<()> {
    match cmd {
        ExportCommand::Users { out } => {
            let started = std::time::Instant::now();
            let rows = export_users(store, &out).await?;
            let secs = started.elapsed().as_secs_f64().max(0.001);
            println!(
                "exported {rows} user(s) to {} in {secs:.1} s ({:.0} rows/s)",
                out.display(),
                rows as f64 / secs
            );
            Ok(())
        }
    }
}

pub async fn import(
    cmd: ImportCommand,
    store: &Store,
    actor: &muster_domain::Actor,
    config: &crate::config::Config,
) -> AppResult<()> {
    let (file, dry_run, allow_weak_hashes) = match cmd {
        ImportCommand::Users {
            file,
            dry_run,
            allow_weak_hashes,
        } => (file, dry_run, allow_weak_hashes),
        ImportCommand::Django(args) => return crate::cli::import_foreign::django(args, store, actor, config).await,
        ImportCommand::Keycloak(args) => return crate::cli::import_foreign::keycloak(args, store, actor, config).await,
    };
    let grant = actor.allow::<perm::ImportUsers>()?;
    let f = std::fs::File::open(&file).map_err(|e| io("opening", &file, e))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let pb = bar(len, "import", Counting::Bytes);
    let mut progress = |bytes: u64| pb.set_position(bytes);
    let options = imports::Options {
        dry_run,
        allow_weak_hashes,
    };
    let report = imports::import_users_with(
        store,
        &grant,
        &Ctx::cli(),
        std::io::BufReader::new(f),
        options,
        &mut progress,
    )
    .await?;
    pb.finish_and_clear();
    finish(store, actor, config, &report, |e| format!("line {}", e.line)).await
}

/// Print an import's report (each rejected row at `place`), put the users with a weak hash
/// in password reset, and fail when a row was rejected.
pub(crate) async fn finish(
    store: &Store,
    actor: &muster_domain::Actor,
    config: &crate::config::Config,
    report: &imports::Report,
    place: impl Fn(&imports::RowError) -> String,
) -> AppResult<()> {
    let dry_run = report.dry_run;
    if !report.ignored_columns.is_empty() {
        println!(
            "columns left out (not muster fields): {}",
            report.ignored_columns.join(", ")
        );
    }
    for e in &report.errors {
        println!("{}: {}: {} (username {:?})", place(e), e.field, e.reason, e.username);
    }
    reset_weak(store, actor, config, report).await?;
    let verb = if dry_run { "would be" } else { "were" };
    println!(
        "{} row(s): {} {verb} created, {} {verb} updated, {} unchanged, {} rejected{}",
        report.rows,
        report.created,
        report.updated,
        report.unchanged,
        report.rejected_rows,
        if dry_run { " (dry run: nothing was changed)" } else { "" }
    );
    if report.rejected_rows > 0 {
        return Err(DomainError::Refused(format!("{} row(s) were rejected", report.rejected_rows)).into());
    }
    Ok(())
}

/// Put the users imported without their weak hash in Password reset, one mail each.
pub(crate) async fn reset_weak(
    store: &Store,
    actor: &muster_domain::Actor,
    config: &crate::config::Config,
    report: &imports::Report,
) -> AppResult<()> {
    if report.weak_hash_users.is_empty() {
        return Ok(());
    }
    let verb = if report.dry_run { "would be" } else { "were" };
    println!(
        "{} user(s) with a weak password hash {verb} put in Password reset and mailed a link",
        report.weak_hash_users.len()
    );
    if report.dry_run {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(report.weak_hash_users.len());
    {
        let mut conn = store.conn().await?;
        for name in &report.weak_hash_users {
            if let Some(u) = users::find_by_username(&mut conn, name).await? {
                ids.push(u.id);
            }
        }
    }
    let state = crate::app::AppState::new(store.clone(), config.clone()).await?;
    let grant = actor.allow::<perm::ResetPasswords>()?;
    let users = muster_domain::UserFilter {
        only_ids: Some(ids),
        ..Default::default()
    };
    let result = crate::services::passwords::mass_reset_password(state.deps(), &grant, &Ctx::cli(), &users).await?;
    println!("{}", result.message());
    Ok(())
}

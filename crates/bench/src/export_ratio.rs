//! The export against the database's own command line dumping the same rows
//! (`sqlite3 -csv`, `psql \copy … TO STDOUT CSV`), measured in the same run:
//! on a shared machine only the ratio means something (issue 11: ≥ 0.8).
//! `--export-only` seeds a fresh database per size and backend and runs just
//! these rows (and the seed's time).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::Args;
use crate::proc_stats;
use crate::report::Row;
use crate::scenarios::{self, Target};

/// The columns muster's export reads, in id order, as the reference dumps them.
const SELECT: &str = "SELECT id, username, email, first_name, last_name, enabled, auth_status, orgs_text, \
    roles_text, created_at, updated_at, last_login_at, login_count, password_hash FROM users JOIN user_status ON user_status.user_id = users.id ORDER BY id";

const RATIO: f64 = 0.8;
const RSS_MB: f64 = 64.0;
/// Each side runs this often, alternating; the best time of each counts.
const ROUNDS: usize = 3;

/// The seed's seconds against issue 11's minute for PostgreSQL.
pub fn seed_row(t: &Target, secs: f64) -> Row {
    let mut r = t.row("seed users (+10% records)", secs, "s");
    if t.backend == "postgres" && t.users >= 1_000_000 {
        r.target = "≤ 60 s (PostgreSQL, 1M)".to_owned();
        r.met = Some(secs <= 60.0);
    }
    r
}

/// One run of the reference dump into `file`: seconds, or why it failed.
fn reference(t: &Target, file: &Path) -> Result<f64, String> {
    let out = std::fs::File::create(file).map_err(|e| e.to_string())?;
    let mut cmd = match &t.database_url {
        Some(url) => {
            let mut c = Command::new("psql");
            c.arg(url)
                .args(["-X", "-q", "-c"])
                .arg(format!("\\copy ({SELECT}) TO STDOUT CSV"));
            c
        }
        None => {
            let mut c = Command::new("sqlite3");
            c.arg("-csv").arg(t.data_dir.join("muster.db")).arg(SELECT);
            c
        }
    };
    let started = Instant::now();
    let status = cmd
        .stdout(out)
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("the reference dump: {e}"))?;
    if !status.success() {
        return Err(format!("the reference dump failed: {status}"));
    }
    Ok(started.elapsed().as_secs_f64())
}

/// One run of `muster export users`: seconds and peak RSS in KiB.
async fn muster(args: &Args, t: &Target, file: &Path) -> Result<(f64, u64), String> {
    let started = Instant::now();
    let child = t
        .command(args)
        .args(["export", "users", "--out"])
        .arg(file)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let (ok, peak) = proc_stats::wait_with_peak(child).await;
    if !ok {
        return Err("muster export users failed".into());
    }
    Ok((started.elapsed().as_secs_f64(), peak))
}

/// Muster's export, the reference, their ratio and the export's peak memory.
pub async fn rows(args: &Args, t: &Target) -> Result<Vec<Row>, String> {
    let ours = t.data_dir.join("export.csv");
    let theirs = t.data_dir.join("reference.csv");
    let (mut best_ours, mut best_ref, mut peak) = (f64::MAX, f64::MAX, 0u64);
    for _ in 0..ROUNDS {
        let file = theirs.clone();
        let t_ref = Target {
            backend: t.backend,
            users: t.users,
            data_dir: t.data_dir.clone(),
            database_url: t.database_url.clone(),
        };
        best_ref = best_ref.min(
            tokio::task::spawn_blocking(move || reference(&t_ref, &file))
                .await
                .map_err(|e| e.to_string())??,
        );
        let (secs, kib) = muster(args, t, &ours).await?;
        best_ours = best_ours.min(secs);
        peak = peak.max(kib);
    }
    let n = (t.users + 1) as f64;
    let (rate, ref_rate) = (n / best_ours, n / best_ref);
    let ratio = rate / ref_rate;
    let tool = if t.database_url.is_some() {
        "psql \\copy … TO STDOUT CSV"
    } else {
        "sqlite3 -csv"
    };
    let size = |p: &Path| std::fs::metadata(p).map_or(0.0, |m| m.len() as f64 / 1_048_576.0);
    let mut rows = Vec::new();
    let mut r = t.row("export all users (CLI)", rate, "rows/s");
    r.note = format!("{best_ours:.2} s, {:.0} MB file; best of {ROUNDS}", size(&ours));
    rows.push(r);
    let mut r = t.row(&format!("export reference: {tool}"), ref_rate, "rows/s");
    r.note = format!("{best_ref:.2} s, {:.0} MB file; best of {ROUNDS}", size(&theirs));
    rows.push(r);
    let mut r = t.row(&format!("export ratio to {tool}"), ratio, "×");
    r.target = format!("≥ {RATIO}");
    r.met = Some(ratio >= RATIO);
    r.note = format!("{rate:.0} / {ref_rate:.0} rows/s, same run");
    rows.push(r);
    let mb = peak as f64 / 1024.0;
    let mut r = t.row("export peak memory (RSS)", mb, "MB");
    r.target = format!("≤ {RSS_MB} MB");
    r.met = Some(mb <= RSS_MB);
    rows.push(r);
    let _ = std::fs::remove_file(&theirs);
    Ok(rows)
}

/// `--export-only`: a fresh database of each `--users` size per backend,
/// seeded, then the export rows. Prints the rows; writes no report.
pub async fn only(args: &Args) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for &users in &args.users {
        for (backend, pg) in scenarios::backends(args) {
            let (t, secs) = scenarios::seeded(args, "export", backend, users, pg, users / 10).await?;
            rows.push(seed_row(&t, secs));
            rows.extend(self::rows(args, &t).await?);
        }
    }
    Ok(rows)
}

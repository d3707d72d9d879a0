//! `--search-only`: the search rows of the full run (grid and `GET /api/users`
//! searching "smith", 8 clients and one), on a database seeded once and kept
//! between runs, so a change to the search can be measured in a minute instead
//! of a full bench. Each run also measures `grid view=all` as its reference:
//! the machine is shared, and a ratio to a page measured in the same minute
//! says more than an absolute figure.

use std::process::Stdio;

use crate::Args;
use crate::report::Row;
use crate::scenarios::{self, Target};

/// What the issue asks of a search under 8 clients (issue 11).
const TARGET_MS: f64 = 50.0;
const GOAL: &str = "≤ 50 ms p50";
/// Written into the data dir once the seed finished: a later run reuses the database.
const SEEDED: &str = "search-bench-seeded";

/// A seeded target of `users` users, reused when an earlier run left one.
async fn seeded(args: &Args, backend: &'static str, users: i64, pg: Option<String>) -> Result<Target, String> {
    let name = format!("search-{backend}-{users}");
    let data_dir = args.work_dir.join(&name);
    if std::fs::read_to_string(data_dir.join(SEEDED)).is_ok_and(|s| s.trim() == users.to_string()) {
        let database_url = match pg {
            Some(base) => {
                let prefix = std::env::var("MUSTER_BENCH_DB_PREFIX").unwrap_or_else(|_| "muster_bench".into());
                let (head, _) = base.rsplit_once('/').ok_or("postgres url without a database")?;
                Some(format!("{head}/{prefix}_{}", name.replace('-', "_")))
            }
            None => None,
        };
        eprintln!("== {backend}, {users} users (reused {})", data_dir.display());
        return Ok(Target {
            backend,
            users,
            data_dir,
            database_url,
        });
    }
    let t = Target::fresh(args, backend, users, pg, &name).await?;
    eprintln!("== {backend}, {users} users (seeding)");
    let (server, _) = scenarios::start(args, &t).await?;
    drop(server);
    let seed = t
        .command(args)
        .args([
            "seed",
            "--users",
            &users.to_string(),
            "--records",
            &(users / 10).to_string(),
        ])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    if !seed.success() {
        return Err("seed failed".into());
    }
    std::fs::write(t.data_dir.join(SEEDED), users.to_string()).map_err(|e| e.to_string())?;
    Ok(t)
}

/// The rows of one target: the reference page, then the four search rows.
async fn rows(args: &Args, t: &Target) -> Result<Vec<Row>, String> {
    let (server, _) = scenarios::start(args, t).await?;
    let cookie = scenarios::admin_session(&server.base).await?;
    let auth = format!("Bearer {}", t.admin_key(args)?);
    let mut out = Vec::new();

    let reference = format!("{}/admin/users?view=all", server.base);
    let s = scenarios::get_latency(args, reference, Some(cookie.clone()), None).await;
    let reference_ms = s.p50_ms;
    out.push(scenarios::latency_row(
        t,
        "grid view=all p50 (reference)",
        &s,
        "≤ 15 ms p50 (SQLite, 1M)",
        15.0,
    ));
    let with_ratio = |mut r: Row| {
        if reference_ms > 0.0 {
            r.note = format!("{}; {:.1}× grid view=all", r.note, r.value / reference_ms);
        }
        r
    };

    let grid = format!("{}/admin/users?view=all&q=smith", server.base);
    let s = scenarios::get_latency(args, grid.clone(), Some(cookie.clone()), None).await;
    out.push(with_ratio(scenarios::latency_row(
        t,
        "grid search \"smith\" p50",
        &s,
        GOAL,
        TARGET_MS,
    )));
    let s = scenarios::get_latency_alone(args, grid, Some(cookie), None).await;
    out.push(with_ratio(scenarios::latency_row(
        t,
        "grid search \"smith\", one client p50",
        &s,
        GOAL,
        TARGET_MS,
    )));

    let api = format!("{}/api/users?filter[search]=smith&page[size]=25", server.base);
    let s = scenarios::get_latency(args, api.clone(), None, Some(auth.clone())).await;
    out.push(with_ratio(scenarios::latency_row(
        t,
        "GET /api/users search \"smith\" p50",
        &s,
        GOAL,
        TARGET_MS,
    )));
    let s = scenarios::get_latency_alone(args, api, None, Some(auth.clone())).await;
    out.push(with_ratio(scenarios::latency_row(
        t,
        "GET /api/users search \"smith\", one client p50",
        &s,
        GOAL,
        TARGET_MS,
    )));

    for view in ["disabled", "cannot_login"] {
        let url = format!(
            "{}/api/users?filter[view]={view}&page[size]=25&sort=lastName",
            server.base
        );
        let s = scenarios::get_latency(args, url, None, Some(auth.clone())).await;
        let scenario = format!("GET /api/users view={view}, sorted by last name p50");
        out.push(with_ratio(scenarios::latency_row(
            t,
            &scenario,
            &s,
            "≤ 15 ms p50 (SQLite, 1M)",
            15.0,
        )));
    }
    Ok(out)
}

/// `--search-only`: per `--users` size and backend, a database seeded once
/// (kept under `--work-dir` and reused), then the search rows. Writes no report.
pub async fn only(args: &Args) -> Result<Vec<Row>, String> {
    let mut out = Vec::new();
    for &users in &args.users {
        for (backend, pg) in scenarios::backends(args) {
            let t = seeded(args, backend, users, pg).await?;
            out.extend(rows(args, &t).await?);
        }
    }
    Ok(out)
}

//! The dashboard `/admin` at scale: its login attempts seeded in bulk
//! (`muster seed --login-attempts`, by default 10 per user: 10M beside a
//! million users), then `GET /admin` against its target of 50 ms p50.

use std::process::Stdio;
use std::time::Instant;

use crate::Args;
use crate::proc_stats;
use crate::report::Row;
use crate::scenarios::{self, Target};

/// The p50 the dashboard must answer in (issue 17), at 1M users and 10M attempts.
const TARGET_MS: f64 = 50.0;

pub fn attempts(args: &Args, t: &Target) -> i64 {
    t.users.saturating_mul(args.login_attempts_per_user)
}

/// Seed the login attempts into a seeded database; the seconds it took.
pub async fn seed_attempts(args: &Args, t: &Target) -> Result<Row, String> {
    let n = attempts(args, t);
    let started = Instant::now();
    let child = t
        .command(args)
        .args(["seed", "--users", "0", "--login-attempts", &n.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let (ok, _) = proc_stats::wait_with_peak(child).await;
    if !ok {
        return Err("seed --login-attempts failed".into());
    }
    let mut r = t.row("seed login attempts", started.elapsed().as_secs_f64(), "s");
    r.note = format!("{n} attempts over 30 days");
    Ok(r)
}

/// `GET /admin` as the administrator of every organization.
pub async fn rows(args: &Args, t: &Target, base: &str, cookie: &str) -> Vec<Row> {
    let n = attempts(args, t);
    let url = format!("{base}/admin");
    let goal = format!("≤ {TARGET_MS} ms p50 (1M users, 10M attempts)");
    let mut out = Vec::new();
    let s = scenarios::get_latency(args, url.clone(), Some(cookie.to_owned()), None).await;
    let mut r = scenarios::latency_row(t, "GET /admin (dashboard) p50", &s, &goal, TARGET_MS);
    r.note = format!("{n} login attempts; {}", r.note);
    out.push(r);
    let s = scenarios::get_latency_alone(args, url, Some(cookie.to_owned()), None).await;
    let mut r = scenarios::latency_row(t, "GET /admin (dashboard), one client p50", &s, &goal, TARGET_MS);
    r.note = format!("{n} login attempts; {}", r.note);
    out.push(r);
    out
}

/// `--dashboard-only`: a fresh database of each `--users` size per backend,
/// seeded with users and attempts, and the dashboard's rows. Writes no report.
pub async fn only(args: &Args) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for &users in &args.users {
        for (backend, pg) in scenarios::backends(args) {
            let (t, _) = scenarios::seeded(args, "dashboard", backend, users, pg, 0).await?;
            rows.push(seed_attempts(args, &t).await?);
            let (server, _) = scenarios::start(args, &t).await?;
            let cookie = scenarios::admin_session(&server.base).await?;
            rows.extend(rows_checked(args, &t, &server.base, &cookie).await?);
        }
    }
    Ok(rows)
}

/// [`rows`], after checking that the page answers and holds its charts.
async fn rows_checked(args: &Args, t: &Target, base: &str, cookie: &str) -> Result<Vec<Row>, String> {
    let page = scenarios::client()
        .get(format!("{base}/admin"))
        .header("cookie", cookie)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !page.status().is_success() {
        return Err(format!("GET /admin answered {}", page.status()));
    }
    let body = page.text().await.map_err(|e| e.to_string())?;
    if body.matches("<svg class=\"chart\"").count() < 4 {
        return Err("GET /admin holds no charts".into());
    }
    Ok(rows(args, t, base, cookie).await)
}

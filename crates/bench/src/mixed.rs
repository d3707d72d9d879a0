//! Mixed load (issue 11, "nothing stalls behind a big change"): sign-ins and
//! grid pages measured alone, then the same load while the API flips every
//! user of the key's organization (a quarter of all users: 250,000 at a
//! million) disabled and enabled again, several times. A mass action commits
//! in batches, so the sign-ins' writes interleave with it; the rows say how
//! much the p99 grows, the longest single wait, and the server's memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::Args;
use crate::proc_stats;
use crate::report::Row;
use crate::scenarios::{self, ADMIN_PASSWORD, CSRF, Server, Target};

/// Clients signing in, and clients reading the grid, at the same time.
const SIGN_IN_CLIENTS: usize = 4;
const GRID_CLIENTS: usize = 4;
/// A request that waits longer is cut off and counted as an error (its wait as this long).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Latencies of one kind of request, in milliseconds, sorted.
struct Lat {
    ms: Vec<f64>,
    errors: usize,
}

impl Lat {
    fn pct(&self, p: f64) -> f64 {
        if self.ms.is_empty() {
            0.0
        } else {
            self.ms[((self.ms.len() as f64 - 1.0) * p).round() as usize]
        }
    }

    fn max(&self) -> f64 {
        self.ms.last().copied().unwrap_or(0.0)
    }

    fn note(&self) -> String {
        format!(
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} requests, errors {}",
            self.pct(0.5),
            self.pct(0.99),
            self.max(),
            self.ms.len(),
            self.errors
        )
    }
}

fn timed_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap_or_default()
}

/// Sign-ins and grid pages back to back until `stop` is set; their latencies.
async fn load_until(base: &str, cookie: &str, stop: Arc<AtomicBool>) -> (Lat, Lat) {
    let http = timed_client();
    let mut sign_ins = Vec::new();
    for _ in 0..SIGN_IN_CLIENTS {
        let (http, stop, url) = (http.clone(), stop.clone(), format!("{base}/login"));
        sign_ins.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let ok = http
                    .post(&url)
                    .header("cookie", format!("muster_csrf={CSRF}"))
                    .form(&[("username", "admin"), ("password", ADMIN_PASSWORD), ("csrf", CSRF)])
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() == 303);
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                errors += usize::from(!ok);
            }
            (lat, errors)
        }));
    }
    let mut grids = Vec::new();
    for i in 0..GRID_CLIENTS {
        let (http, stop, cookie) = (http.clone(), stop.clone(), cookie.to_owned());
        // pages of each built-in view, so the counts that a mass action moves are read
        let url = format!(
            "{base}/admin/users?view={}",
            ["all", "active", "disabled", "cannot_login"][i % 4]
        );
        grids.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let ok = http
                    .get(&url)
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                errors += usize::from(!ok);
            }
            (lat, errors)
        }));
    }
    (collect(sign_ins).await, collect(grids).await)
}

async fn collect(handles: Vec<tokio::task::JoinHandle<(Vec<f64>, usize)>>) -> Lat {
    let mut ms = Vec::new();
    let mut errors = 0;
    for h in handles {
        if let Ok((l, e)) = h.await {
            ms.extend(l);
            errors += e;
        }
    }
    ms.sort_by(f64::total_cmp);
    Lat { ms, errors }
}

/// What the flips did: how many, users changed in all, seconds in all, any failure.
struct Flips {
    count: usize,
    users: i64,
    seconds: f64,
    failures: Vec<String>,
}

/// Disable the key organization's active users, enable them again, and so on:
/// at least `min_flips` (an even number, so every user ends enabled) and at
/// least `min_seconds`.
async fn flip(base: &str, auth: &str, min_flips: usize, min_seconds: f64) -> Flips {
    let http = scenarios::client();
    let started = Instant::now();
    let mut out = Flips {
        count: 0,
        users: 0,
        seconds: 0.0,
        failures: Vec::new(),
    };
    while out.count < min_flips || started.elapsed().as_secs_f64() < min_seconds || !out.count.is_multiple_of(2) {
        let (action, view) = if out.count.is_multiple_of(2) {
            ("disable", "active")
        } else {
            ("enable", "disabled")
        };
        let t = Instant::now();
        let resp = http
            .post(format!("{base}/api/users/mass/{action}"))
            .header("authorization", auth)
            .json(&serde_json::json!({ "filter": { "view": view } }))
            .send()
            .await;
        out.seconds += t.elapsed().as_secs_f64();
        out.count += 1;
        match resp {
            Ok(r) if r.status().is_success() => {
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                out.users += body["meta"]["affected"].as_i64().unwrap_or(0);
            }
            Ok(r) => out.failures.push(format!("{action}: HTTP {}", r.status())),
            Err(e) => out.failures.push(format!("{action}: {e}")),
        }
        if out.failures.len() > 2 {
            break;
        }
    }
    out
}

/// The mixed-load rows against a running, seeded server.
pub async fn rows(args: &Args, t: &Target, server: &Server, cookie: &str) -> Result<Vec<Row>, String> {
    let auth = format!("Bearer {}", t.admin_key(args)?);
    let pid = server.child.id();
    let seconds = args.seconds.max(5);

    // alone
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (base, cookie, stop) = (server.base.clone(), cookie.to_owned(), stop.clone());
        tokio::spawn(async move { load_until(&base, &cookie, stop).await })
    };
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let (sign_in_alone, grid_alone) = load.await.map_err(|e| e.to_string())?;

    // the same load during mass flips, the server's RSS sampled every 100 ms
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (base, cookie, stop) = (server.base.clone(), cookie.to_owned(), stop.clone());
        tokio::spawn(async move { load_until(&base, &cookie, stop).await })
    };
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(proc_stats::kib(pid, "VmRSS:").unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        })
    };
    let flips = flip(&server.base, &auth, 4, (2 * seconds) as f64).await;
    stop.store(true, Ordering::Relaxed);
    let (sign_in_mixed, grid_mixed) = load.await.map_err(|e| e.to_string())?;
    let peak_mb = sampler.await.unwrap_or(0) as f64 / 1024.0;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after_mb = proc_stats::kib(pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0;

    let flips_note = format!(
        "{} flips of {} users each in {:.1} s{}",
        flips.count,
        flips.users / flips.count.max(1) as i64,
        flips.seconds,
        if flips.failures.is_empty() {
            String::new()
        } else {
            format!(", failed: {}", flips.failures.join("; "))
        }
    );
    let mut rows = Vec::new();
    for (what, alone, mixed) in [
        ("sign-in", &sign_in_alone, &sign_in_mixed),
        ("grid", &grid_alone, &grid_mixed),
    ] {
        let ratio = if alone.pct(0.99) > 0.0 {
            mixed.pct(0.99) / alone.pct(0.99)
        } else {
            0.0
        };
        let mut r = t.row(&format!("mixed load: {what} p99 during mass flips ÷ alone"), ratio, "×");
        r.target = "≤ 2×".into();
        r.met = Some(ratio <= 2.0 && mixed.errors == 0 && flips.failures.is_empty());
        r.note = format!("alone: {}; during: {}", alone.note(), mixed.note());
        rows.push(r);
    }
    let longest = sign_in_mixed.max().max(grid_mixed.max());
    let mut r = t.row("mixed load: longest wait during mass flips", longest, "ms");
    r.target = "≤ 1 s".into();
    r.met = Some(longest <= 1000.0);
    r.note = flips_note.clone();
    rows.push(r);
    let per_100k = if flips.users > 0 {
        flips.seconds * 100_000.0 / flips.users as f64
    } else {
        0.0
    };
    let mut r = t.row(
        "mixed load: mass flip under load, scaled to 100,000 users",
        per_100k,
        "s",
    );
    r.target = "≤ 1 s per 100,000".into();
    r.met = Some(flips.users > 0 && per_100k <= 1.0);
    r.note = flips_note;
    rows.push(r);
    let mut r = t.row("mixed load: peak RSS", peak_mb, "MB");
    r.target = "≤ 64 MB".into();
    r.met = Some(peak_mb <= 64.0);
    r.note = format!("5 s after: {after_mb:.1} MB");
    rows.push(r);
    Ok(rows)
}

/// `--mixed-only`: a fresh database of each `--users` size per backend,
/// seeded, and the mixed-load rows. Prints the rows; writes no report.
pub async fn only(args: &Args) -> Result<Vec<Row>, String> {
    let mut out = Vec::new();
    for &users in &args.users {
        for (backend, pg) in scenarios::backends(args) {
            let (t, _) = scenarios::seeded(args, "mixed", backend, users, pg, 0).await?;
            let (server, _) = scenarios::start(args, &t).await?;
            let cookie = scenarios::admin_session(&server.base).await?;
            out.extend(rows(args, &t, &server, &cookie).await?);
        }
    }
    Ok(out)
}

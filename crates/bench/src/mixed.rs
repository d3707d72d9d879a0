//! Mixed load (issue 11, "nothing stalls behind a big change"): sign-ins and
//! grid pages measured alone, then the same load during each big change —
//! the API flipping every user of the key's organization (a quarter of all
//! users: 250,000 at a million) disabled and enabled again, several times; a
//! CLI import of new users; a mass password reset job. Each change commits
//! in batches, so the sign-ins' writes interleave with it; the rows say how
//! much the p99 grows, the longest single wait, and the server's memory.
//! `--mixed-minutes M` adds a long run: the same load for M minutes while the
//! changes, exports and searches follow one another, and the RSS during and
//! after it.

use std::future::Future;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::proc_stats;
use crate::report::Row;
use crate::scenarios::{self, ADMIN_PASSWORD, CSRF, Server, Target};
use crate::{Args, MixedChange};

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

/// The load, with the server's RSS sampled every 100 ms, while `change` runs;
/// the latencies, the peak RSS in KiB and what `change` said.
async fn during<F: Future<Output = Outcome>>(server: &Server, cookie: &str, change: F) -> Result<During, String> {
    let pid = server.child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (base, cookie, stop) = (server.base.clone(), cookie.to_owned(), stop.clone());
        tokio::spawn(async move { load_until(&base, &cookie, stop).await })
    };
    let sampler = {
        let (stop, base) = (stop.clone(), server.base.clone());
        tokio::spawn(async move {
            let http = scenarios::client();
            let mut peak = proc_stats::Resident::default();
            let mut sqlite = None;
            // a scrape reads the jobs and the outbox from the database: only where it tells something
            let mut scrape = true;
            while !stop.load(Ordering::Relaxed) {
                if let Some(now) = proc_stats::Resident::of(pid)
                    && now.total > peak.total
                {
                    peak = now;
                    if scrape {
                        sqlite = proc_stats::sqlite_memory(&http, &base).await;
                        scrape = sqlite.is_some();
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (peak, sqlite)
        })
    };
    let outcome = change.await;
    stop.store(true, Ordering::Relaxed);
    let (sign_in, grid) = load.await.map_err(|e| e.to_string())?;
    let (peak, sqlite_at_peak) = sampler.await.unwrap_or_default();
    Ok(During {
        sign_in,
        grid,
        peak_mb: peak.total as f64 / 1024.0,
        peak,
        sqlite_at_peak,
        outcome,
    })
}

/// What a big change said: a note for its rows, and whether it went through.
struct Outcome {
    note: String,
    ok: bool,
}

struct During {
    sign_in: Lat,
    grid: Lat,
    peak_mb: f64,
    /// What the peak was made of.
    peak: proc_stats::Resident,
    /// What SQLite held then (its `/metrics` gauge), in bytes.
    sqlite_at_peak: Option<u64>,
    outcome: Outcome,
}

impl During {
    /// "anon 41.2 + file 17.0 + shmem 0.3 MB; SQLite 12.1 MB of the anon".
    fn peak_parts(&self) -> String {
        match self.sqlite_at_peak {
            Some(b) => format!(
                "{}; SQLite {:.1} MB of the anon",
                self.peak.parts(),
                b as f64 / 1048576.0
            ),
            None => self.peak.parts(),
        }
    }
}

/// The rows of one big change against the load alone: p99 ratios, the
/// longest wait and the peak RSS.
fn change_rows(t: &Target, what: &str, alone: (&Lat, &Lat), d: &During) -> Vec<Row> {
    let mut rows = Vec::new();
    for (kind, alone, mixed) in [("sign-in", alone.0, &d.sign_in), ("grid", alone.1, &d.grid)] {
        let ratio = if alone.pct(0.99) > 0.0 {
            mixed.pct(0.99) / alone.pct(0.99)
        } else {
            0.0
        };
        let mut r = t.row(&format!("mixed load: {kind} p99 during {what} ÷ alone"), ratio, "×");
        r.target = "≤ 2×".into();
        r.met = Some(ratio <= 2.0 && mixed.errors == 0 && d.outcome.ok);
        r.note = format!("alone: {}; during: {}", alone.note(), mixed.note());
        rows.push(r);
    }
    let longest = d.sign_in.max().max(d.grid.max());
    let mut r = t.row(&format!("mixed load: longest wait during {what}"), longest, "ms");
    r.target = "≤ 1 s".into();
    r.met = Some(longest <= 1000.0);
    r.note = d.outcome.note.clone();
    rows.push(r);
    let mut r = t.row(&format!("mixed load: peak RSS during {what}"), d.peak_mb, "MB");
    r.target = "≤ 64 MB".into();
    r.met = Some(d.peak_mb <= 64.0);
    r.note = format!("at the peak: {}", d.peak_parts());
    rows.push(r);
    rows
}

/// New users for an import: `n` rows named after `tag`, so runs on one database never collide.
fn write_import_csv(path: &Path, tag: &str, n: i64) -> Result<(), String> {
    use std::io::Write as _;
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut w = std::io::BufWriter::new(file);
    let mut line = |s: String| w.write_all(s.as_bytes()).map_err(|e| e.to_string());
    line("username,email,first_name,last_name,enabled,organizations,roles\n".into())?;
    for i in 0..n {
        line(format!("{tag}{i},{tag}{i}@mixed.example,Mia{i},Mixer,yes,Main,User\n"))?;
    }
    w.flush().map_err(|e| e.to_string())
}

/// `muster import users` of `n` new users, as a process of its own beside the server.
async fn import(args: &Args, t: &Target, n: i64) -> Outcome {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let tag = format!("mixed{stamp}x");
    let csv = t.data_dir.join(format!("{tag}.csv"));
    if let Err(e) = write_import_csv(&csv, &tag, n) {
        return Outcome {
            note: format!("writing the file: {e}"),
            ok: false,
        };
    }
    let started = Instant::now();
    let child = t
        .command(args)
        .args(["import", "users"])
        .arg(&csv)
        .stdout(Stdio::null())
        // its log beside the server's when the bench asks for logs (MUSTER_BENCH_LOG)
        .stderr(if std::env::var_os("MUSTER_BENCH_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn();
    let ok = match child {
        Ok(child) => proc_stats::wait_with_peak(child).await.0,
        Err(_) => false,
    };
    let _ = std::fs::remove_file(&csv);
    Outcome {
        note: format!(
            "import of {n} new users (CLI) in {:.1} s{}",
            started.elapsed().as_secs_f64(),
            if ok { "" } else { ", failed" }
        ),
        ok,
    }
}

/// A mass password reset job of `n` users of the key's organization (every 4th id), until it ends.
async fn mass_reset(server: &Server, auth: &str, t: &Target, n: i64) -> Outcome {
    let ids: Vec<i64> = (1..=n.min(t.users / 4)).map(|k| 4 * k).collect();
    match scenarios::timed_reset_job(server, auth, serde_json::json!({ "ids": ids })).await {
        Ok(run) => Outcome {
            ok: run.done(),
            note: format!(
                "mass reset job of {} ids in {:.1} s; {}",
                ids.len(),
                run.end_to_end,
                run.note()
            ),
        },
        Err(e) => Outcome {
            note: format!("mass reset: {e}"),
            ok: false,
        },
    }
}

/// An export job of every user, until it ends.
async fn export(server: &Server, auth: &str) -> Outcome {
    let note = crate::memory::export_job(server, auth).await;
    Outcome {
        ok: note.contains("rows in"),
        note,
    }
}

/// Grid searches, one after another, `n` of them.
async fn searches(server: &Server, cookie: &str, n: usize) -> Outcome {
    let http = timed_client();
    let mut errors = 0;
    for i in 0..n {
        let needle = ["smith", "jo", "ann", "example"][i % 4];
        let ok = http
            .get(format!("{}/admin/users?view=all&q={needle}", server.base))
            .header("cookie", cookie)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        errors += usize::from(!ok);
    }
    Outcome {
        note: format!("{n} searches, errors {errors}"),
        ok: errors == 0,
    }
}

/// The mixed-load rows against a running, seeded server.
pub async fn rows(args: &Args, t: &Target, server: &Server, cookie: &str) -> Result<Vec<Row>, String> {
    let auth = format!("Bearer {}", t.admin_key(args)?);
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
    let alone = (&sign_in_alone, &grid_alone);

    let mut rows = Vec::new();
    if args.mixed_changes.contains(&MixedChange::Flips) {
        rows.extend(during_flips(t, server, cookie, &auth, seconds, alone).await?);
    }
    if args.mixed_changes.contains(&MixedChange::Import) {
        // a fifth of the seeded size, at most 20,000
        let n = (t.users / 5).clamp(1, 20_000);
        let d = during(server, cookie, import(args, t, n)).await?;
        rows.extend(change_rows(t, "an import", alone, &d));
    }
    if args.mixed_changes.contains(&MixedChange::Reset) {
        let d = during(server, cookie, mass_reset(server, &auth, t, 10_000)).await?;
        rows.extend(change_rows(t, "a mass reset job", alone, &d));
    }
    if args.mixed_minutes > 0 {
        rows.extend(long_run(args, t, server, cookie, &auth).await?);
    }
    Ok(rows)
}

/// The load's rows during mass flips, the RSS 5 s after them, and the flips' own speed.
async fn during_flips(
    t: &Target,
    server: &Server,
    cookie: &str,
    auth: &str,
    seconds: u64,
    alone: (&Lat, &Lat),
) -> Result<Vec<Row>, String> {
    let pid = server.child.id();
    let mut flips = None;
    let d = during(server, cookie, async {
        let f = flip(&server.base, auth, 4, (2 * seconds) as f64).await;
        let outcome = Outcome {
            note: format!(
                "{} flips of {} users each in {:.1} s{}",
                f.count,
                f.users / f.count.max(1) as i64,
                f.seconds,
                if f.failures.is_empty() {
                    String::new()
                } else {
                    format!(", failed: {}", f.failures.join("; "))
                }
            ),
            ok: f.failures.is_empty(),
        };
        flips = Some(f);
        outcome
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after_mb = proc_stats::kib(pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0;
    let mut rows = change_rows(t, "mass flips", alone, &d);
    if let Some(r) = rows.last_mut() {
        r.note = format!("{}; 5 s after: {after_mb:.1} MB", r.note);
    }
    let (users, secs) = flips.as_ref().map_or((0, 0.0), |f| (f.users, f.seconds));
    let per_100k = if users > 0 {
        secs * 100_000.0 / users as f64
    } else {
        0.0
    };
    let mut r = t.row(
        "mixed load: mass flip under load, scaled to 100,000 users",
        per_100k,
        "s",
    );
    r.target = "≤ 1 s per 100,000".into();
    r.met = Some(users > 0 && per_100k <= 1.0);
    r.note = d.outcome.note.clone();
    rows.push(r);
    Ok(rows)
}

/// `--mixed-minutes`: the load while every kind of change follows another
/// for that long; the RSS during, 5 s after and 30 s after.
async fn long_run(args: &Args, t: &Target, server: &Server, cookie: &str, auth: &str) -> Result<Vec<Row>, String> {
    let pid = server.child.id();
    let minutes = args.mixed_minutes;
    let deadline = Instant::now() + Duration::from_secs(60 * minutes);
    let d = during(server, cookie, async {
        let mut rounds = 0;
        let mut failed = Vec::new();
        while Instant::now() < deadline {
            for outcome in [
                {
                    let f = flip(&server.base, auth, 2, 0.0).await;
                    Outcome { note: String::new(), ok: f.failures.is_empty() }
                },
                import(args, t, 2_000).await,
                mass_reset(server, auth, t, 1_000).await,
                export(server, auth).await,
                searches(server, cookie, 40).await,
            ] {
                if !outcome.ok {
                    failed.push(outcome.note);
                }
            }
            rounds += 1;
        }
        Outcome {
            ok: failed.is_empty(),
            note: format!(
                "{rounds} rounds of (2 mass flips, an import of 2,000, a mass reset of 1,000, an export job, 40 searches){}",
                if failed.is_empty() { String::new() } else { format!("; failed: {}", failed.join("; ")) }
            ),
        }
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after_5 = proc_stats::Resident::of(pid).unwrap_or_default();
    tokio::time::sleep(Duration::from_secs(25)).await;
    let after_30 = proc_stats::Resident::of(pid).unwrap_or_default();
    let what = format!("{minutes} minutes of mixed load");
    let mut rows = Vec::new();
    let mut r = t.row(&format!("{what}: peak RSS"), d.peak_mb, "MB");
    r.target = "≤ 64 MB".into();
    r.met = Some(d.peak_mb <= 64.0 && d.outcome.ok);
    r.note = format!(
        "{}; at the peak: {}; sign-in {}; grid {}",
        d.outcome.note,
        d.peak_parts(),
        d.sign_in.note(),
        d.grid.note()
    );
    rows.push(r);
    let mb = |r: &proc_stats::Resident| r.total as f64 / 1024.0;
    let mut r = t.row(&format!("{what}: RSS 5 s after"), mb(&after_5), "MB");
    r.target = "≤ 64 MB".into();
    r.met = Some(mb(&after_5) <= 64.0);
    r.note = after_5.parts();
    rows.push(r);
    let mut r = t.row(&format!("{what}: idle RSS 30 s after"), mb(&after_30), "MB");
    r.target = "≤ 20 MB".into();
    r.met = Some(mb(&after_30) <= 20.0);
    r.note = after_30.parts();
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

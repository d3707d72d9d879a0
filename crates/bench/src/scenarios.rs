//! The measured scenarios, run against a real `muster serve` process.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Args;
use crate::load;
use crate::proc_stats;
use crate::report::Row;

pub const ADMIN_PASSWORD: &str = "Bench-Admin-Password-77";
pub const CSRF: &str = "bench-csrf-token-bench-csrf-token-bench-xx";

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One database to measure: SQLite in a folder, or a PostgreSQL URL.
pub struct Target {
    pub backend: &'static str,
    pub users: i64,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
}

impl Target {
    /// A target on an empty data dir `<work-dir>/<name>` (and a fresh PostgreSQL database when `pg` is given).
    pub async fn fresh(
        args: &Args,
        backend: &'static str,
        users: i64,
        pg: Option<String>,
        name: &str,
    ) -> Result<Target, String> {
        let data_dir = args.work_dir.join(name);
        let _ = std::fs::remove_dir_all(&data_dir);
        std::fs::create_dir_all(&data_dir).map_err(|e| e.to_string())?;
        let database_url = match pg {
            Some(base) => {
                // several benches may share one PostgreSQL server: MUSTER_BENCH_DB_PREFIX keeps them apart
                let prefix = std::env::var("MUSTER_BENCH_DB_PREFIX").unwrap_or_else(|_| "muster_bench".into());
                Some(fresh_pg_database(&base, &format!("{prefix}_{}", name.replace('-', "_"))).await?)
            }
            None => None,
        };
        Ok(Target {
            backend,
            users,
            data_dir,
            database_url,
        })
    }

    /// A new API key of the administrator, from `muster apikey create`.
    pub fn admin_key(&self, args: &Args) -> Result<String, String> {
        let out = self
            .command(args)
            .args(["apikey", "create", "--username", "admin"])
            .output()
            .map_err(|e| e.to_string())?;
        let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !out.status.success() || key.is_empty() {
            return Err(format!(
                "apikey create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(key)
    }

    pub fn command(&self, args: &Args) -> Command {
        let mut c = Command::new(&args.bin);
        // MUSTER_BENCH_LOG: the servers' log filter, to see inside a scenario (their stderr is the bench's)
        let log = std::env::var("MUSTER_BENCH_LOG").unwrap_or_else(|_| "error".to_owned());
        c.arg("--data-dir").arg(&self.data_dir).env("MUSTER_LOG", log);
        if let Some(url) = &self.database_url {
            c.arg("--database-url").arg(url);
        } else {
            c.env_remove("MUSTER_DATABASE_URL");
        }
        c.env("MUSTER_ADMIN_PASSWORD", ADMIN_PASSWORD);
        c
    }

    pub fn row(&self, scenario: &str, value: f64, unit: &'static str) -> Row {
        Row {
            backend: self.backend.to_owned(),
            users: self.users,
            scenario: scenario.to_owned(),
            value,
            unit,
            target: String::new(),
            met: None,
            note: String::new(),
        }
    }
}

/// A latency scenario's row: its p50 against `limit_ms`, the rest in the note.
pub(crate) fn latency_row(t: &Target, scenario: &str, s: &load::Stats, text: &str, limit_ms: f64) -> Row {
    let mut r = target(t.row(scenario, s.p50_ms, "ms"), text, s.p50_ms <= limit_ms);
    r.note = format!("p99 {:.1} ms, {:.0} req/s, errors {}", s.p99_ms, s.rps(), s.errors);
    r
}

pub(crate) fn target(mut row: Row, text: &str, met: bool) -> Row {
    row.target = text.to_owned();
    row.met = Some(met);
    row
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_default()
}

pub async fn start(args: &Args, t: &Target) -> Result<(Server, Duration), String> {
    let started = Instant::now();
    let mut child = t
        .command(args)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start {}: {e}", args.bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let base = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        while let Some(Ok(line)) = lines.next() {
            if let Some(rest) = line.strip_prefix("muster listening on ") {
                return Some(rest.trim().to_owned());
            }
        }
        None
    })
    .await
    .map_err(|e| e.to_string())?
    .ok_or("muster serve exited before listening")?;
    let server = Server { child, base };
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{}/readyz", server.base)).send().await
            && r.status().is_success()
        {
            break;
        }
        if Instant::now() > deadline {
            return Err("muster serve never became ready".into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok((server, started.elapsed()))
}

/// Sign in as admin; returns the session cookie.
pub async fn admin_session(base: &str) -> Result<String, String> {
    let r = client()
        .post(format!("{base}/login"))
        .header("cookie", format!("muster_csrf={CSRF}"))
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD), ("csrf", CSRF)])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("muster_session="))
        .ok_or("admin sign-in failed")?;
    Ok(cookie.split(';').next().unwrap_or("").to_owned())
}

/// Verifications per second that Argon2 alone allows on every core of this machine
/// (each thread reusing its working memory, as the server's hashing threads do).
pub(crate) fn argon2_bound() -> f64 {
    let params = muster_server::hashing::Params::default();
    let hash = match muster_server::hashing::hash_now("bench password", params) {
        Ok(h) => h,
        Err(_) => return 0.0,
    };
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(3);
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let hash = hash.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                let mut scratch = muster_server::hash_pool::Scratch::new();
                while Instant::now() < deadline {
                    muster_server::hashing::verify_with(&mut scratch, "bench password", &hash);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

pub(crate) async fn get_latency(args: &Args, url: String, cookie: Option<String>, auth: Option<String>) -> load::Stats {
    get_latency_with(args.seconds, args.concurrency, url, cookie, auth).await
}

/// One client alone: the latency of the request itself, without queueing
/// behind others for the two cores.
pub(crate) async fn get_latency_alone(
    args: &Args,
    url: String,
    cookie: Option<String>,
    auth: Option<String>,
) -> load::Stats {
    get_latency_with(args.seconds, 1, url, cookie, auth).await
}

async fn get_latency_with(
    seconds: u64,
    concurrency: usize,
    url: String,
    cookie: Option<String>,
    auth: Option<String>,
) -> load::Stats {
    let http = client();
    load::run(seconds, concurrency, move |_| {
        let mut req = http.get(&url);
        if let Some(c) = &cookie {
            req = req.header("cookie", c);
        }
        if let Some(a) = &auth {
            req = req.header("authorization", a);
        }
        async move { req.send().await.is_ok_and(|r| r.status().is_success()) }
    })
    .await
}

pub async fn run_all(args: &Args) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    for &n in &args.users {
        targets.push(("sqlite", n, None));
        if let Some(pg) = &args.postgres_url {
            targets.push(("postgres", n, Some(pg.clone())));
        }
    }
    for (backend, users, pg) in targets {
        let t = Target::fresh(args, backend, users, pg, &format!("{backend}-{users}")).await?;
        eprintln!("== {backend}, {users} users");
        rows.extend(run_one(args, &t).await?);
    }
    Ok(rows)
}

async fn fresh_pg_database(base: &str, name: &str) -> Result<String, String> {
    let status = Command::new("psql")
        .arg(base)
        .args([
            "-qc",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .status()
        .map_err(|e| format!("psql: {e}"))?;
    if !status.success() {
        return Err(format!("could not create database {name}"));
    }
    let (head, _) = base.rsplit_once('/').ok_or("postgres url without a database")?;
    Ok(format!("{head}/{name}"))
}

async fn run_one(args: &Args, t: &Target) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    // start once on the empty database: migrations + the first admin
    let (server, _) = start(args, t).await?;
    rows.push(crate::memory::fresh_start_idle(t, &server).await);
    drop(server);

    let started = Instant::now();
    let seed = t
        .command(args)
        .args([
            "seed",
            "--users",
            &t.users.to_string(),
            "--records",
            &(t.users / 10).to_string(),
        ])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let (ok, _) = proc_stats::wait_with_peak(seed).await;
    if !ok {
        return Err("seed failed".into());
    }
    let secs = started.elapsed().as_secs_f64();
    rows.push(crate::export_ratio::seed_row(t, secs));
    rows.push(crate::dashboard::seed_attempts(args, t).await?);

    let (server, ready) = start(args, t).await?;
    let ms = ready.as_secs_f64() * 1000.0;
    rows.push(t.row("start to ready", ms, "ms"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = proc_stats::kib(server.child.id(), "VmRSS:").unwrap_or(0) as f64 / 1024.0;
    rows.push(target(t.row("idle memory (RSS)", idle, "MB"), "< 20 MB", idle < 20.0));

    // sign-in against the Argon2 bound, measured just before it (the server
    // idle): a bound taken minutes earlier on a shared machine drifts by a third
    let bound = tokio::task::spawn_blocking(argon2_bound).await.unwrap_or(0.0);
    let http = client();
    let base = server.base.clone();
    let stats = load::run(args.seconds, args.concurrency, move |_| {
        let req = http
            .post(format!("{base}/login"))
            .header("cookie", format!("muster_csrf={CSRF}"))
            .form(&[("username", "admin"), ("password", ADMIN_PASSWORD), ("csrf", CSRF)]);
        async move { req.send().await.is_ok_and(|r| r.status().as_u16() == 303) }
    })
    .await;
    let ratio = if bound > 0.0 { stats.rps() / bound } else { 0.0 };
    let mut r = target(
        t.row("sign-in throughput", stats.rps(), "req/s"),
        "≥ 90% of Argon2 bound",
        ratio >= 0.9,
    );
    r.note = format!(
        "Argon2 bound {bound:.1}/s, ratio {:.0}%, p50 {:.1} ms, p99 {:.1} ms, errors {}",
        ratio * 100.0,
        stats.p50_ms,
        stats.p99_ms,
        stats.errors
    );
    rows.push(r);

    let cookie = admin_session(&server.base).await?;
    for view in ["all", "active", "disabled", "cannot_login"] {
        for (label, extra) in [("", ""), (", sorted by last name", "&sort=lastName")] {
            let url = format!("{}/admin/users?view={view}{extra}", server.base);
            let s = get_latency(args, url, Some(cookie.clone()), None).await;
            let scenario = format!("grid view={view}{label} p50");
            rows.push(latency_row(t, &scenario, &s, "≤ 15 ms p50 (SQLite, 1M)", 15.0));
        }
    }
    let url = format!("{}/admin/users?view=all&q=smith", server.base);
    let s = get_latency(args, url.clone(), Some(cookie.clone()), None).await;
    rows.push(latency_row(t, "grid search \"smith\" p50", &s, "≤ 50 ms p50", 50.0));
    let s = get_latency_alone(args, url, Some(cookie.clone()), None).await;
    rows.push(latency_row(
        t,
        "grid search \"smith\", one client p50",
        &s,
        "≤ 50 ms p50",
        50.0,
    ));

    rows.extend(crate::dashboard::rows(args, t, &server.base, &cookie).await);

    // before `later`, whose mass disable leaves no enabled account to ask for
    let cmp = crate::timing::forgot_password(args, t, &server.base, args.forgot_samples).await?;
    rows.extend(cmp.rows(t));

    // before `later` too: its flips end with every user enabled again
    rows.extend(crate::mixed::rows(args, t, &server, &cookie).await?);
    rows.extend(crate::scenarios::later(args, t, &server, &cookie).await?);
    drop(server);
    rows.extend(crate::memory::rows(args, t).await?);
    Ok(rows)
}

/// The backends a run covers: SQLite (unless `--postgres-only`), and PostgreSQL when `--postgres-url` is given.
pub fn backends(args: &Args) -> Vec<(&'static str, Option<String>)> {
    let mut targets = if args.postgres_only {
        vec![]
    } else {
        vec![("sqlite", None)]
    };
    if let Some(pg) = &args.postgres_url {
        targets.push(("postgres", Some(pg.clone())));
    }
    targets
}

/// `muster seed` of `users` users and `records` records on `t` (started once
/// before, for the migrations and the first admin); the seconds it took.
pub fn seed(args: &Args, t: &Target, records: i64) -> Result<f64, String> {
    let started = Instant::now();
    let status = t
        .command(args)
        .args([
            "seed",
            "--users",
            &t.users.to_string(),
            "--records",
            &records.to_string(),
        ])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("seed failed".into());
    }
    Ok(started.elapsed().as_secs_f64())
}

/// A fresh target named `<what>-<backend>-<users>`, started once and seeded;
/// the seed's seconds.
pub async fn seeded(
    args: &Args,
    what: &str,
    backend: &'static str,
    users: i64,
    pg: Option<String>,
    records: i64,
) -> Result<(Target, f64), String> {
    let t = Target::fresh(args, backend, users, pg, &format!("{what}-{backend}-{users}")).await?;
    let (server, _) = start(args, &t).await?;
    drop(server);
    let secs = seed(args, &t, records)?;
    eprintln!("== {what}, {backend}, {users} users seeded in {secs:.1} s");
    Ok((t, secs))
}

/// `--forgot-timing`: only the forgot-password comparison, on a fresh database
/// of the first `--users` size per backend. Prints the rows; writes no report.
pub async fn forgot_timing_only(args: &Args) -> Result<Vec<Row>, String> {
    let users = args.users.first().copied().unwrap_or(1000);
    let mut rows = Vec::new();
    for (backend, pg) in backends(args) {
        let (t, _) = seeded(args, "forgot", backend, users, pg, 0).await?;
        let (server, _) = start(args, &t).await?;
        let cmp = crate::timing::forgot_password(args, &t, &server.base, args.forgot_samples).await?;
        rows.extend(cmp.rows(&t));
    }
    Ok(rows)
}

/// `POST /api/users/mass/{action}`: seconds taken, the status and the answer.
pub(crate) async fn timed_mass(
    server: &Server,
    auth: &str,
    action: &str,
    body: serde_json::Value,
) -> Result<(f64, reqwest::StatusCode, serde_json::Value), String> {
    let started = Instant::now();
    let resp = client()
        .post(format!("{}/api/users/mass/{action}", server.base))
        .header("authorization", auth)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    let status = resp.status();
    Ok((secs, status, resp.json().await.unwrap_or_default()))
}

/// The API, export and mass actions: the key comes from `muster apikey create`.
pub async fn later(args: &Args, t: &Target, server: &Server, _cookie: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let auth = format!("Bearer {}", t.admin_key(args)?);
    let api = |q: &str| format!("{}/api/users?{q}", server.base);
    for view in ["all", "active", "disabled", "cannot_login"] {
        for (label, extra) in [("", ""), (", sorted by last name", "&sort=lastName")] {
            let s = get_latency(
                args,
                api(&format!("filter[view]={view}&page[size]=25{extra}")),
                None,
                Some(auth.clone()),
            )
            .await;
            let scenario = format!("GET /api/users view={view}{label} p50");
            rows.push(latency_row(t, &scenario, &s, "≤ 15 ms p50 (SQLite, 1M)", 15.0));
        }
    }
    let url = api("filter[search]=smith&page[size]=25");
    let s = get_latency(args, url.clone(), None, Some(auth.clone())).await;
    rows.push(latency_row(
        t,
        "GET /api/users search \"smith\" p50",
        &s,
        "≤ 50 ms p50",
        50.0,
    ));
    let s = get_latency_alone(args, url, None, Some(auth.clone())).await;
    rows.push(latency_row(
        t,
        "GET /api/users search \"smith\", one client p50",
        &s,
        "≤ 50 ms p50",
        50.0,
    ));

    // GET /api/users/{id}: spread over the members of the key's organization
    // (Main: the seed puts every user whose id is a multiple of 4 there)
    let http = client();
    let base = server.base.clone();
    let quarter = (t.users / 4).max(1);
    let a = auth.clone();
    let s = load::run(args.seconds, args.concurrency, move |i| {
        let id = 4 * (1 + (i as i64 * 7919) % quarter);
        let req = http.get(format!("{base}/api/users/{id}")).header("authorization", &a);
        async move { req.send().await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    let mut r = t.row("GET /api/users/{id} with an API key", s.rps(), "req/s");
    r.note = format!("p50 {:.2} ms, p99 {:.2} ms, errors {}", s.p50_ms, s.p99_ms, s.errors);
    rows.push(r);

    // export every user through the CLI against the database's own dump: rows per second, ratio, peak memory
    rows.extend(crate::export_ratio::rows(args, t).await?);

    // mass reset of 10,000 users of the key's organization by id, then of all
    // its users (a job each: 202, then GET /api/jobs/{id} until done)
    rows.extend(mass_reset_rows(t, server, &auth).await?);

    let filter = serde_json::json!({ "filter": { "view": "active" } });
    let (secs, status, body) = timed_mass(server, &auth, "disable", filter).await?;
    let affected = body["meta"]["affected"].as_i64().unwrap_or(0);
    let per_100k = if affected > 0 {
        secs * 100_000.0 / affected as f64
    } else {
        secs
    };
    let mut r = target(
        t.row("mass disable, scaled to 100,000 users (API)", per_100k, "s"),
        "≤ 1 s per 100,000",
        status.is_success() && per_100k <= 1.0,
    );
    r.note = format!("HTTP {status}, {affected} users in {secs:.2} s");
    rows.push(r);
    Ok(rows)
}

/// A mass reset through the API, from the POST to its job's end.
pub(crate) struct ResetRun {
    /// Seconds until the 202.
    answer: f64,
    /// Seconds from the POST until the job read `done` (or `failed`).
    pub(crate) end_to_end: f64,
    http: reqwest::StatusCode,
    affected: i64,
    job: serde_json::Value,
}

impl ResetRun {
    pub(crate) fn done(&self) -> bool {
        self.http == reqwest::StatusCode::ACCEPTED && self.job["status"] == "done"
    }

    pub(crate) fn note(&self) -> String {
        format!(
            "HTTP {}, 202 in {:.0} ms, affected {}, job {} {}/{}",
            self.http.as_u16(),
            self.answer * 1000.0,
            self.affected,
            self.job["status"].as_str().unwrap_or("?"),
            self.job["processed"],
            self.job["total"]
        )
    }
}

/// POST `/api/users/mass/reset-password` with `body`, then poll the job every 20 ms until it ends.
pub(crate) async fn timed_reset_job(server: &Server, auth: &str, body: serde_json::Value) -> Result<ResetRun, String> {
    let http = client();
    let started = Instant::now();
    let (answer, status, doc) = timed_mass(server, auth, "reset-password", body).await?;
    let affected = doc["meta"]["affected"].as_i64().unwrap_or(0);
    let Some(id) = doc["data"]["id"].as_str().map(str::to_owned) else {
        return Ok(ResetRun {
            answer,
            end_to_end: started.elapsed().as_secs_f64(),
            http: status,
            affected,
            job: serde_json::Value::Null,
        });
    };
    let url = format!("{}/api/jobs/{id}", server.base);
    let job = loop {
        let resp = http
            .get(&url)
            .header("authorization", auth)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let doc: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
        let job = doc["data"]["attributes"].clone();
        if job["status"] == "done" || job["status"] == "failed" || job.is_null() {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    Ok(ResetRun {
        answer,
        end_to_end: started.elapsed().as_secs_f64(),
        http: status,
        affected,
        job,
    })
}

/// Mass reset as a job: 10,000 users by id (≤ 5 s end to end), then every
/// user of the key's organization, per 100,000 (≤ 60 s); the 202 within 1 s.
/// The reference, measured right after on the same users: a mass disable
/// (one set-based statement), reported as a ratio per user.
pub async fn mass_reset_rows(t: &Target, server: &Server, auth: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let ids: Vec<i64> = (1..=10_000.min(t.users / 4)).map(|n| 4 * n).collect();
    let run = timed_reset_job(server, auth, serde_json::json!({ "ids": ids })).await?;
    let mut r = target(
        t.row(
            "mass reset of 10,000 users (API), request to job done",
            run.end_to_end,
            "s",
        ),
        "≤ 5 s",
        run.done() && run.end_to_end <= 5.0,
    );
    r.note = run.note();
    rows.push(r);
    rows.push(target(
        t.row("mass reset of 10,000 users: 202 answer", run.answer * 1000.0, "ms"),
        "≤ 1 s",
        run.answer <= 1.0,
    ));

    let run = timed_reset_job(server, auth, serde_json::json!({ "filter": { "view": "all" } })).await?;
    let per_100k = run.end_to_end * 100_000.0 / run.affected.max(1) as f64;
    let mut r = target(
        t.row(
            "mass reset, scaled to 100,000 users (API), request to job done",
            per_100k,
            "s",
        ),
        "≤ 60 s per 100,000",
        run.done() && per_100k <= 60.0,
    );
    r.note = format!("{} users in {:.1} s; {}", run.affected, run.end_to_end, run.note());
    rows.push(r);
    let mut r = target(
        t.row(
            "mass reset of all the organization's users: 202 answer",
            run.answer * 1000.0,
            "ms",
        ),
        "≤ 1 s",
        run.answer <= 1.0,
    );
    r.note = format!("{} users selected", run.affected);
    rows.push(r);

    // the reference: a mass disable, then enable, of the same users
    let all = serde_json::json!({ "filter": { "view": "all" } });
    let (off, _, _) = timed_mass(server, auth, "disable", all.clone()).await?;
    let (on, _, body) = timed_mass(server, auth, "enable", all).await?;
    let flipped = body["meta"]["affected"].as_i64().unwrap_or(0).max(1) as f64;
    let flip_per_user = (off + on) / 2.0 / flipped;
    let reset_per_user = run.end_to_end / run.affected.max(1) as f64;
    let mut r = t.row(
        "mass reset per user ÷ mass disable per user (same run)",
        reset_per_user / flip_per_user,
        "×",
    );
    r.note = format!(
        "reset {:.1} µs/user, disable/enable {:.1} µs/user ({} users)",
        reset_per_user * 1e6,
        flip_per_user * 1e6,
        flipped
    );
    rows.push(r);
    Ok(rows)
}

/// `--mass-reset-only`: seed the first `--users` size per backend and run
/// [`mass_reset_rows`]; prints the rows, writes no report.
pub async fn mass_reset_only(args: &Args) -> Result<Vec<Row>, String> {
    let users = args.users.first().copied().unwrap_or(400_000);
    let mut rows = Vec::new();
    for (backend, pg) in backends(args) {
        let (t, _) = seeded(args, "reset", backend, users, pg, 0).await?;
        let (server, _) = start(args, &t).await?;
        let auth = format!("Bearer {}", t.admin_key(args)?);
        eprintln!("== {backend}, {users} users: mass reset");
        rows.extend(mass_reset_rows(&t, &server, &auth).await?);
    }
    Ok(rows)
}

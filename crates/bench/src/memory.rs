//! Memory of the `muster` processes (issue 11): for each scenario the peak RSS
//! during it and the RSS 5 s after it ended, against 64 MB; the idle RSS after
//! a fresh start on an empty data dir and after all the load, against 20 MB.
//! `--memory-only` runs these alone; the full run has them too (`scenarios::run_one`).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::Args;
use crate::proc_stats;
use crate::report::Row;
use crate::scenarios::{self, ADMIN_PASSWORD, CSRF, Server, Target};

const LOAD_LIMIT_MB: f64 = 64.0;
const IDLE_LIMIT_MB: f64 = 20.0;
/// "After": long enough for anything the server gives back when idle (the
/// hashing threads keep their memory 2 s), short enough to show what it keeps.
const SETTLE: Duration = Duration::from_secs(5);
/// Rows of the CSV the import scenario reads.
const IMPORT_ROWS: usize = 100_000;

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn rss_mb(pid: u32) -> f64 {
    mb(proc_stats::kib(pid, "VmRSS:").unwrap_or(0))
}

fn limit_row(t: &Target, scenario: &str, value: f64, limit: f64, note: String) -> Row {
    let mut r = t.row(scenario, value, "MB");
    r.target = format!("≤ {limit} MB");
    r.met = Some(value <= limit);
    r.note = note;
    r
}

/// The peak RSS of a running process from now on: its high-water mark is reset
/// (`clear_refs` 5), and a poller covers a kernel that refuses the reset.
struct Peak {
    pid: u32,
    reset: bool,
    polled: std::sync::Arc<std::sync::atomic::AtomicU64>,
    poller: tokio::task::JoinHandle<()>,
}

impl Peak {
    fn start(pid: u32) -> Peak {
        let reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
        let polled = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let p = polled.clone();
        let poller = tokio::spawn(async move {
            loop {
                if let Some(k) = proc_stats::kib(pid, "VmRSS:") {
                    p.fetch_max(k, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        Peak {
            pid,
            reset,
            polled,
            poller,
        }
    }

    fn mb(self) -> f64 {
        self.poller.abort();
        let polled = self.polled.load(std::sync::atomic::Ordering::Relaxed);
        let hwm = if self.reset {
            proc_stats::kib(self.pid, "VmHWM:").unwrap_or(0)
        } else {
            0
        };
        mb(polled.max(hwm))
    }
}

/// The two rows of a scenario run against the server: peak during, RSS `SETTLE` after.
async fn during_and_after<F: std::future::Future<Output = String>>(
    t: &Target,
    server: &Server,
    name: &str,
    work: F,
) -> Vec<Row> {
    let pid = server.child.id();
    let before = rss_mb(pid);
    let peak = Peak::start(pid);
    let note = work.await;
    let peak = peak.mb();
    tokio::time::sleep(SETTLE).await;
    let after = rss_mb(pid);
    vec![
        limit_row(
            t,
            &format!("{name}: peak RSS during"),
            peak,
            LOAD_LIMIT_MB,
            format!("{before:.1} MB before; {note}"),
        ),
        limit_row(
            t,
            &format!("{name}: RSS 5 s after"),
            after,
            LOAD_LIMIT_MB,
            String::new(),
        ),
    ]
}

/// The server's RSS after a fresh start on an empty data dir (migrations, the first administrator's hash).
pub async fn fresh_start_idle(t: &Target, server: &Server) -> Row {
    tokio::time::sleep(SETTLE).await;
    limit_row(
        t,
        "idle RSS after a fresh start on an empty data dir",
        rss_mb(server.child.id()),
        IDLE_LIMIT_MB,
        "5 s after ready".into(),
    )
}

/// `n` sign-ins sent at once; (all answered 303, seconds taken).
async fn sign_ins_at_once(base: &str, n: usize) -> (usize, f64) {
    let http = scenarios::client();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let req = http
            .post(format!("{base}/login"))
            .header("cookie", format!("muster_csrf={CSRF}"))
            .form(&[("username", "admin"), ("password", ADMIN_PASSWORD), ("csrf", CSRF)]);
        tasks.push(tokio::spawn(async move {
            req.send().await.is_ok_and(|r| r.status().as_u16() == 303)
        }));
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap_or(false) {
            ok += 1;
        }
    }
    (ok, started.elapsed().as_secs_f64())
}

pub(crate) async fn export_job(server: &Server, auth: &str) -> String {
    let http = scenarios::client();
    let started = Instant::now();
    let created = http
        .post(format!("{}/api/exports/users", server.base))
        .header("authorization", auth)
        .send()
        .await;
    let id = match created {
        Ok(r) => r.json::<serde_json::Value>().await.unwrap_or_default()["data"]["id"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        Err(e) => return format!("not started: {e}"),
    };
    loop {
        let status = match http
            .get(format!("{}/api/exports/{id}", server.base))
            .header("authorization", auth)
            .send()
            .await
        {
            Ok(r) => r.json::<serde_json::Value>().await.unwrap_or_default(),
            Err(e) => return format!("polling failed: {e}"),
        };
        let attrs = &status["data"]["attributes"];
        match attrs["status"].as_str() {
            Some("done") => {
                return format!(
                    "{} rows in {:.1} s",
                    attrs["processed"],
                    started.elapsed().as_secs_f64()
                );
            }
            Some("failed") | None => return format!("export job failed: {status}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A CLI command's peak RSS, as one row; its note says how long it took.
async fn cli_peak(args: &Args, t: &Target, name: &str, cmd_args: &[&str], file: &Path) -> Result<Row, String> {
    let started = Instant::now();
    let child = t
        .command(args)
        .args(cmd_args)
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let (ok, peak) = proc_stats::wait_with_peak(child).await;
    if !ok {
        return Err(format!("{name} failed"));
    }
    Ok(limit_row(
        t,
        &format!("{name}: peak RSS"),
        mb(peak),
        LOAD_LIMIT_MB,
        format!("{:.1} s", started.elapsed().as_secs_f64()),
    ))
}

/// `IMPORT_ROWS` new users (no password: nothing to hash), into `path`.
fn write_import_csv(path: &Path) -> Result<(), String> {
    use std::io::Write as _;
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut w = std::io::BufWriter::new(file);
    let mut line = |s: String| w.write_all(s.as_bytes()).map_err(|e| e.to_string());
    line("username,email,first_name,last_name,enabled,organizations,roles\n".into())?;
    for n in 0..IMPORT_ROWS {
        line(format!(
            "imported{n},imported{n}@import.example,Ima{n},Porter,yes,Main,User\n"
        ))?;
    }
    w.flush().map_err(|e| e.to_string())
}

/// The memory rows on a seeded target: a new server process, the load, the idle after it.
pub async fn rows(args: &Args, t: &Target) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let auth = format!("Bearer {}", t.admin_key(args)?);
    let (server, _) = scenarios::start(args, t).await?;
    tokio::time::sleep(SETTLE).await;
    rows.push(limit_row(
        t,
        "idle RSS before the load",
        rss_mb(server.child.id()),
        IDLE_LIMIT_MB,
        "a restart on the seeded data".into(),
    ));

    // the reference for the sign-ins: Argon2 alone on every core, just before
    let bound = tokio::task::spawn_blocking(scenarios::argon2_bound)
        .await
        .unwrap_or(0.0);
    let base = server.base.clone();
    rows.extend(
        during_and_after(t, &server, "120 parallel sign-ins", async move {
            let (ok, secs) = sign_ins_at_once(&base, 120).await;
            let rate = ok as f64 / secs;
            format!(
                "{ok}/120 signed in in {secs:.2} s, {rate:.1}/s = {:.0}% of the Argon2 bound {bound:.1}/s",
                100.0 * rate / bound.max(f64::MIN_POSITIVE)
            )
        })
        .await,
    );
    let base = server.base.clone();
    rows.extend(
        during_and_after(t, &server, "3 rounds of 40 parallel sign-ins", async move {
            let mut notes = Vec::new();
            for _ in 0..3 {
                let (ok, secs) = sign_ins_at_once(&base, 40).await;
                notes.push(format!("{ok}/40 in {secs:.2} s"));
            }
            notes.join(", ")
        })
        .await,
    );

    let file = t.data_dir.join("memory-export.csv");
    rows.push(cli_peak(args, t, "export all users (CLI)", &["export", "users", "--out"], &file).await?);
    let _ = std::fs::remove_file(&file);
    rows.extend(during_and_after(t, &server, "export all users (API job)", export_job(&server, &auth)).await);

    // the key's organization holds a quarter of the seed: 250,000 users at 1M
    for action in ["disable", "enable"] {
        let (server, auth) = (&server, &auth);
        let name = format!("mass {action} of the key's organization (API)");
        rows.extend(
            during_and_after(t, server, &name, async move {
                let all = serde_json::json!({ "filter": { "view": "all" } });
                match scenarios::timed_mass(server, auth, action, all).await {
                    Ok((secs, status, body)) => {
                        format!("HTTP {status}, {} users in {secs:.2} s", body["meta"]["affected"])
                    }
                    Err(e) => format!("failed: {e}"),
                }
            })
            .await,
        );
    }

    let csv = t.data_dir.join("memory-import.csv");
    write_import_csv(&csv)?;
    rows.push(cli_peak(args, t, "import 100,000 users (CLI)", &["import", "users"], &csv).await?);
    let _ = std::fs::remove_file(&csv);

    tokio::time::sleep(SETTLE).await;
    rows.push(limit_row(
        t,
        "idle RSS after the load",
        rss_mb(server.child.id()),
        IDLE_LIMIT_MB,
        "10 s after the last request".into(),
    ));
    Ok(rows)
}

/// `--memory-only`: per backend, a fresh start on an empty data dir, a seed of
/// the first `--users` size, and the memory rows. Prints them; writes no report.
pub async fn only(args: &Args) -> Result<Vec<Row>, String> {
    let users = args.users.first().copied().unwrap_or(100_000);
    let mut rows = Vec::new();
    for (backend, pg) in scenarios::backends(args) {
        let t = Target::fresh(args, backend, users, pg, &format!("memory-{backend}-{users}")).await?;
        eprintln!("== memory, {backend}, {users} users");
        let (server, _) = scenarios::start(args, &t).await?;
        rows.push(fresh_start_idle(&t, &server).await);
        drop(server);
        scenarios::seed(args, &t, 0)?;
        rows.extend(rows_printed(args, &t).await?);
    }
    Ok(rows)
}

async fn rows_printed(args: &Args, t: &Target) -> Result<Vec<Row>, String> {
    let rows = rows(args, t).await?;
    for r in &rows {
        eprintln!(
            "  {} | {:.1} {} | {} | {}",
            r.scenario, r.value, r.unit, r.target, r.note
        );
    }
    Ok(rows)
}

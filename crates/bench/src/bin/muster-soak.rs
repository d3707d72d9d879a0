//! `muster-soak` (run through `scripts/soak --minutes M`): a mixed load through
//! the balancer of `scripts/cluster up N` while instances are killed, the
//! PostgreSQL restarts and the SMTP server goes away; then the checks of issue 15
//! and one summary line. Exit status 1 when a check fails.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser, Debug, Clone)]
#[command(about = "Soak a muster cluster under faults and check that nothing was lost")]
struct Args {
    /// How long the load runs.
    #[arg(long, default_value_t = 2)]
    minutes: u64,
    /// Instances behind the balancer.
    #[arg(long, default_value_t = 3)]
    instances: usize,
    /// The muster binary.
    #[arg(long, default_value = "target/debug/muster")]
    bin: PathBuf,
    /// Where the cluster, the mailbox and the logs go (deleted first).
    #[arg(long, default_value = "target/soak")]
    work_dir: PathBuf,
    /// Concurrent clients.
    #[arg(long, default_value_t = 6)]
    concurrency: usize,
}

type R<T> = Result<T, String>;
/// pid → (first seen, RSS samples in KiB taken after its first 20 s)
type RssSamples = Mutex<HashMap<u32, (Instant, Vec<u64>)>>;

const ADMIN_PASSWORD: &str = "Soak-Admin-Password-31";
const USER_PASSWORD: &str = "Plum-Harbor-Telescope-88";
const LOCK_LIMIT: usize = 10;
const VICTIMS: usize = 3;
const RESET_POOL: usize = 12;
const TOGGLE_POOL: usize = 10;
const LOGIN_POOL: usize = 4;

/// What the load saw.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    /// (seconds since start, status or 0 for no answer, what)
    errors: Mutex<Vec<(f64, u16, String)>>,
    problems: Mutex<Vec<String>>,
    resets_expected: AtomicU64,
    mass_resets: AtomicU64,
    exports: Mutex<Vec<String>>,
    imports: Mutex<Vec<String>>,
    /// Seconds since start during which 5xx are expected (a kill, a restart).
    windows: Mutex<Vec<(f64, f64)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Tally {
    fn problem(&self, p: String) {
        eprintln!("soak: problem: {p}");
        lock(&self.problems).push(p);
    }
}

struct Ctx {
    lb: String,
    ports: Vec<u16>,
    key: String,
    admin: reqwest::Client,
    tally: Tally,
    start: Instant,
    users: Mutex<HashMap<String, String>>,
}

impl Ctx {
    fn secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Send with retries on no answer and on 5xx (each recorded); `ok` are the statuses expected.
    async fn send(&self, what: &str, ok: &[u16], make: impl Fn() -> reqwest::RequestBuilder) -> Option<(u16, String)> {
        for attempt in 0..12u32 {
            self.tally.requests.fetch_add(1, Ordering::Relaxed);
            match make().timeout(Duration::from_secs(30)).send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let body = resp.text().await.unwrap_or_default();
                    if status >= 500 {
                        lock(&self.tally.errors).push((self.secs(), status, what.to_owned()));
                    } else if ok.contains(&status) || (attempt > 0 && status == 409) {
                        // a 409 after a retry: the first try was applied before its answer was lost
                        return Some((status, body));
                    } else {
                        let short: String = body.chars().take(300).collect();
                        self.tally.problem(format!("{what}: unexpected {status}: {short}"));
                        return None;
                    }
                }
                Err(_) => lock(&self.tally.errors).push((self.secs(), 0, what.to_owned())),
            }
            tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt + 1))).await;
        }
        self.tally.problem(format!("{what}: no good answer after 12 tries"));
        None
    }

    fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.admin
            .request(method, format!("{}{path}", self.lb))
            .bearer_auth(&self.key)
            .header("content-type", "application/vnd.api+json")
    }
}

fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

fn cookie_client() -> R<reqwest::Client> {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())
}

/// A web sign-in on `base`; the status of the POST.
async fn sign_in(ctx: &Ctx, base: &str, username: &str, password: &str, ok: &[u16]) -> Option<u16> {
    let client = cookie_client().ok()?;
    let (_, html) = ctx
        .send("GET /login", &[200], || client.get(format!("{base}/login")))
        .await?;
    let token = csrf_in(&html)?;
    let form = [("username", username), ("password", password), ("csrf", token.as_str())];
    ctx.send("POST /login", ok, || client.post(format!("{base}/login")).form(&form))
        .await
        .map(|(s, _)| s)
}

fn new_user(name: &str) -> Value {
    json!({"data": {"type": "users", "attributes": {
        "username": name, "email": format!("{name}@example.com"),
        "firstName": "Soak", "lastName": "Test", "password": USER_PASSWORD, "roles": ["User"]
    }}})
}

async fn create_user(ctx: &Ctx, name: &str) -> Option<String> {
    let body = new_user(name);
    let (_, text) = ctx
        .send("POST /api/users", &[201], || {
            ctx.api(reqwest::Method::POST, "/api/users").json(&body)
        })
        .await?;
    let id = match serde_json::from_str::<Value>(&text).ok()?["data"]["id"].as_str() {
        Some(id) => id.to_owned(),
        // created by a try whose answer was lost: look it up
        None => find_user(ctx, name).await?["id"].as_str()?.to_owned(),
    };
    lock(&ctx.users).insert(name.to_owned(), id.clone());
    Some(id)
}

async fn find_user(ctx: &Ctx, name: &str) -> Option<Value> {
    let path = format!("/api/users?filter[username]={name}&filter[view]=all");
    let (_, text) = ctx
        .send("GET /api/users?filter", &[200], || ctx.api(reqwest::Method::GET, &path))
        .await?;
    let doc: Value = serde_json::from_str(&text).ok()?;
    doc["data"].as_array()?.first().cloned()
}

fn ids(ctx: &Ctx, prefix: &str, n: usize) -> Vec<Value> {
    let users = lock(&ctx.users);
    (0..n)
        .filter_map(|i| users.get(&format!("{prefix}-{i}")))
        .map(|id| json!(id.parse::<i64>().unwrap_or(0)))
        .collect()
}

/// One step of the mixed load: worker `w`'s `j`-th, `k` unique over all workers.
async fn step(ctx: &Ctx, w: u64, j: u64, k: u64, web: &reqwest::Client) {
    let lb = ctx.lb.as_str();
    // every worker goes through every kind of step; exports and imports one round in six
    match (j + w) % 12 {
        0 | 1 => {
            let who = format!("soak-login-{}", k % LOGIN_POOL as u64);
            sign_in(ctx, lb, &who, USER_PASSWORD, &[303]).await;
        }
        2 => {
            sign_in(
                ctx,
                lb,
                &format!("ghost-{k}"),
                "Wrong-Password-Here-1",
                &[200, 401, 422],
            )
            .await;
        }
        3 => {
            let path = format!("{lb}/admin/users?view=all&page={}", k % 4 + 1);
            ctx.send("GET /admin/users", &[200], || web.get(&path)).await;
        }
        4 => {
            let path = format!("{lb}/admin/users?view=all&q=soak");
            ctx.send("GET /admin/users?search", &[200], || web.get(&path)).await;
        }
        5 => {
            ctx.send("GET /api/users", &[200], || {
                ctx.api(reqwest::Method::GET, "/api/users?filter[search]=soak&page[size]=20")
            })
            .await;
        }
        6 => {
            if let Some(id) = create_user(ctx, &format!("soak-made-{k}")).await {
                let body = json!({"data": {"type": "users", "id": id, "attributes": {"firstName": "Patched"}}});
                let path = format!("/api/users/{id}");
                ctx.send("PATCH /api/users/{id}", &[200], || {
                    ctx.api(reqwest::Method::PATCH, &path).json(&body)
                })
                .await;
            }
        }
        7 => {
            let body = json!({"ids": ids(ctx, "soak-toggle", TOGGLE_POOL)});
            for action in ["disable", "enable"] {
                let path = format!("/api/users/mass/{action}");
                ctx.send("POST /api/users/mass/…", &[200], || {
                    ctx.api(reqwest::Method::POST, &path).json(&body)
                })
                .await;
            }
        }
        8 => {
            let pool = ids(ctx, "soak-reset", RESET_POOL);
            let pick: Vec<Value> = (0..2)
                .filter_map(|j| pool.get(((k / 12) as usize * 2 + j) % pool.len().max(1)).cloned())
                .collect();
            let body = json!({"ids": pick});
            if let Some((_, text)) = ctx
                .send("POST /api/users/mass/reset-password", &[200, 202], || {
                    ctx.api(reqwest::Method::POST, "/api/users/mass/reset-password")
                        .json(&body)
                })
                .await
            {
                let affected = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|d| d["meta"]["affected"].as_u64());
                ctx.tally
                    .resets_expected
                    .fetch_add(affected.unwrap_or(0), Ordering::Relaxed);
                ctx.tally.mass_resets.fetch_add(1, Ordering::Relaxed);
            }
        }
        9 if (j / 12) % 6 == w % 6 => {
            if let Some((_, text)) = ctx
                .send("POST /api/exports/users", &[202], || {
                    ctx.api(reqwest::Method::POST, "/api/exports/users")
                })
                .await
                && let Some(id) = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|d| d["data"]["id"].as_str().map(str::to_owned))
            {
                lock(&ctx.tally.exports).push(id);
            }
        }
        10 if (j / 12) % 6 == w % 6 => import(ctx, k, web).await,
        9 => {
            let path = format!("{lb}/admin/users?view=cannot_login");
            ctx.send("GET /admin/users?view", &[200], || web.get(&path)).await;
        }
        10 => {
            let path = format!("{lb}/admin/users?view=all&q=zz");
            ctx.send("GET /admin/users?search", &[200], || web.get(&path)).await;
        }
        _ => {
            ctx.send("GET /profile", &[200], || web.get(format!("{lb}/profile")))
                .await;
        }
    }
}

/// Upload a CSV of 2 new users through the UI's import page.
async fn import(ctx: &Ctx, k: u64, web: &reqwest::Client) {
    let names = [format!("soak-imp-{k}-a"), format!("soak-imp-{k}-b")];
    let mut csv = String::from("username,email,first_name,last_name,roles,organizations\n");
    for n in &names {
        csv.push_str(&format!("{n},{n}@example.com,Imported,Soak,User,Main\n"));
    }
    let lb = &ctx.lb;
    let Some((_, html)) = ctx
        .send("GET /admin/import", &[200], || web.get(format!("{lb}/admin/import")))
        .await
    else {
        return;
    };
    let Some(token) = csrf_in(&html) else {
        ctx.tally.problem("no CSRF token on /admin/import".to_owned());
        return;
    };
    let boundary = "soak-boundary-7d1f";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"soak.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    );
    let sent = ctx
        .send("POST /admin/import", &[200], || {
            web.post(format!("{lb}/admin/import"))
                .header("x-csrf-token", &token)
                .header("content-type", format!("multipart/form-data; boundary={boundary}"))
                .body(body.clone())
        })
        .await;
    if sent.is_some() {
        lock(&ctx.tally.imports).extend(names);
    }
}

/// Wrong passwords for each victim through every instance at once: exactly the limit counts.
async fn attack(ctx: Arc<Ctx>) {
    let mut tasks = Vec::new();
    for v in 0..VICTIMS {
        for i in 0..LOCK_LIMIT * 2 {
            let ctx = ctx.clone();
            let port = ctx.ports[i % ctx.ports.len()];
            tasks.push(tokio::spawn(async move {
                let base = format!("http://127.0.0.1:{port}");
                sign_in(
                    &ctx,
                    &base,
                    &format!("soak-victim-{v}"),
                    "Wrong-Password-Here-2",
                    &[200, 401, 422],
                )
                .await;
            }));
        }
    }
    for t in tasks {
        let _ = t.await;
    }
}

fn run_cluster(args: &Args, cluster_dir: &Path, smtp_port: u16, cmd: &[&str]) -> R<String> {
    let out = Command::new("scripts/cluster")
        .args(cmd)
        .env("MUSTER_CLUSTER_DIR", cluster_dir)
        .env("MUSTER_BIN", &args.bin)
        .env("MUSTER_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("MUSTER_SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}"))
        .env_remove("MUSTER_DATABASE_URL")
        .output()
        .map_err(|e| format!("scripts/cluster: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/cluster {}: {}{}",
            cmd.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn start_smtp(port: u16, mailbox: &Path) -> R<Child> {
    Command::new("/usr/bin/python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(mailbox)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("aiosmtpd (apt-get install python3-aiosmtpd): {e}"))
}

fn free_port() -> R<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Headers of one mail file: (Message-ID, Subject, To, the whole text with soft line breaks undone).
fn read_mail(path: &Path) -> Option<(String, String, String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let header = |name: &str| {
        text.lines()
            .take_while(|l| !l.is_empty())
            .find(|l| {
                l.to_ascii_lowercase()
                    .starts_with(&format!("{}:", name.to_ascii_lowercase()))
            })
            .map(|l| l[name.len() + 1..].trim().to_owned())
            .unwrap_or_default()
    };
    let decoded = text.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    Some((header("Message-ID"), header("Subject"), header("To"), decoded))
}

fn mails(mailbox: &Path) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(dir) = std::fs::read_dir(mailbox.join(sub)) {
            out.extend(dir.flatten().filter_map(|e| read_mail(&e.path())));
        }
    }
    out
}

/// Every row of the cluster's outbox: (Message-ID, subject, status).
fn outbox_rows(database: &str) -> R<Vec<(String, String, String)>> {
    let out = Command::new("psql")
        .args([
            database,
            "-qAtF",
            "\t",
            "-c",
            "SELECT message_id, subject, status FROM mail_outbox ORDER BY id",
        ])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if !out.status.success() {
        return Err(format!("psql: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?.to_owned(), f.next()?.to_owned(), f.next()?.to_owned()))
        })
        .collect())
}

fn metric(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match soak(args).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn soak(args: Args) -> R<bool> {
    let _ = std::fs::remove_dir_all(&args.work_dir);
    std::fs::create_dir_all(&args.work_dir).map_err(|e| e.to_string())?;
    let work = std::fs::canonicalize(&args.work_dir).map_err(|e| e.to_string())?;
    let cluster_dir = work.join("cluster");
    let mailbox = work.join("mailbox");
    let smtp_port = free_port()?;
    let mut smtp = start_smtp(smtp_port, &mailbox)?;
    let up = run_cluster(&args, &cluster_dir, smtp_port, &["up", &args.instances.to_string()]);
    let result = match up {
        Ok(out) => drive(&args, &cluster_dir, &mailbox, smtp_port, &mut smtp, &out).await,
        Err(e) => Err(e),
    };
    let _ = run_cluster(&args, &cluster_dir, smtp_port, &["down"]);
    let _ = smtp.kill();
    let _ = smtp.wait();
    result
}

async fn drive(args: &Args, cluster_dir: &Path, mailbox: &Path, smtp_port: u16, smtp: &mut Child, up: &str) -> R<bool> {
    let field = |name: &str| {
        up.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|s| s.trim().to_owned())
            .ok_or(format!("no {name} in the output of scripts/cluster up"))
    };
    let lb = field("balancer: ")?;
    let database = field("database: ")?;
    let ports: Vec<u16> = std::fs::read_to_string(cluster_dir.join("instance.ports"))
        .map_err(|e| e.to_string())?
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    // settings for a soak: no pause per address (every client is loopback), quick mail retries
    let sql = "INSERT INTO settings (key, value, updated_at) VALUES \
               ('login_failures_per_address', '0', 0), ('mail_retry_base_seconds', '5', 0), \
               ('failed_login_limit', '10', 0) \
               ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value";
    let out = Command::new("psql")
        .args([database.as_str(), "-qc", sql])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if !out.status.success() {
        return Err(format!("psql: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let out = Command::new(&args.bin)
        .args(["--database-url", &database, "apikey", "create", "--username", "admin"])
        .env("MUSTER_LOG", "error")
        .output()
        .map_err(|e| e.to_string())?;
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || key.is_empty() {
        return Err(format!("apikey create: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let ctx = Arc::new(Ctx {
        lb: lb.clone(),
        ports,
        key,
        admin: reqwest::Client::new(),
        tally: Tally::default(),
        start: Instant::now(),
        users: Mutex::new(HashMap::new()),
    });
    for (prefix, n) in [
        ("soak-victim", VICTIMS),
        ("soak-reset", RESET_POOL),
        ("soak-toggle", TOGGLE_POOL),
        ("soak-login", LOGIN_POOL),
    ] {
        for i in 0..n {
            create_user(&ctx, &format!("{prefix}-{i}"))
                .await
                .ok_or(format!("could not create {prefix}-{i}"))?;
        }
    }
    let web = cookie_client()?;
    let (_, html) = ctx
        .send("GET /login", &[200], || web.get(format!("{lb}/login")))
        .await
        .ok_or("the balancer does not answer")?;
    let token = csrf_in(&html).ok_or("no CSRF token on /login")?;
    let form = [
        ("username", "admin"),
        ("password", ADMIN_PASSWORD),
        ("csrf", token.as_str()),
    ];
    ctx.send("POST /login", &[303], || web.post(format!("{lb}/login")).form(&form))
        .await
        .ok_or("the administrator cannot sign in")?;

    let run_for = Duration::from_secs(args.minutes.max(1) * 60);
    let stop = Arc::new(AtomicBool::new(false));
    // the load
    let mut workers = Vec::new();
    for w in 0..args.concurrency {
        let (ctx, stop, web) = (ctx.clone(), stop.clone(), web.clone());
        let n = args.concurrency as u64;
        workers.push(tokio::spawn(async move {
            let mut j = 0u64;
            while !stop.load(Ordering::Relaxed) {
                step(&ctx, w as u64, j, j * n + w as u64, &web).await;
                j += 1;
            }
        }));
    }
    // RSS of every instance process, every 5 s: pid → samples after its first 20 s
    let rss: Arc<RssSamples> = Arc::new(Mutex::new(HashMap::new()));
    let sampler = {
        let (rss, stop, dir) = (rss.clone(), stop.clone(), cluster_dir.to_path_buf());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                for i in 1..=16 {
                    let Some(pid) = std::fs::read_to_string(dir.join(format!("muster-{i}.pid")))
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok())
                    else {
                        continue;
                    };
                    if let Some(kib) = rss_kib(pid) {
                        let mut map = lock(&rss);
                        let entry = map.entry(pid).or_insert_with(|| (Instant::now(), Vec::new()));
                        if entry.0.elapsed() >= Duration::from_secs(20) {
                            entry.1.push(kib);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        })
    };

    // the faults, on a schedule: a kill every minute, PostgreSQL once, SMTP away for a minute
    let minutes = args.minutes.max(1);
    let pg_at = Duration::from_secs(if minutes == 1 { 38 } else { minutes * 30 + 10 });
    let smtp_off = (
        Duration::from_secs(25),
        Duration::from_secs(if minutes >= 2 { 85 } else { 45 }),
    );
    let attack_at = run_for.mul_f64(0.4);
    let mut kills: Vec<Duration> = (0..minutes).map(|m| Duration::from_secs(15 + 60 * m)).collect();
    kills.reverse();
    let (mut pg_done, mut smtp_stopped, mut smtp_back, mut attacked) = (false, false, false, false);
    let mut kill_no = 0usize;
    while ctx.start.elapsed() < run_for {
        let now = ctx.start.elapsed();
        if kills.last().is_some_and(|t| now >= *t) {
            kills.pop();
            let i = kill_no % args.instances + 1;
            kill_no += 1;
            let from = ctx.secs();
            run_cluster(args, cluster_dir, smtp_port, &["kill", &i.to_string()])?;
            eprintln!("soak: {from:.0} s: SIGKILL instance {i}");
            tokio::time::sleep(Duration::from_secs(5)).await;
            run_cluster(args, cluster_dir, smtp_port, &["start", &i.to_string()])?;
            lock(&ctx.tally.windows).push((from, ctx.secs() + 10.0));
        } else if !pg_done && now >= pg_at && now + Duration::from_secs(20) < run_for {
            pg_done = true;
            let from = ctx.secs();
            eprintln!("soak: {from:.0} s: restarting PostgreSQL");
            run_cluster(args, cluster_dir, smtp_port, &["pg-restart"])?;
            lock(&ctx.tally.windows).push((from, ctx.secs() + 15.0));
        } else if !smtp_stopped && now >= smtp_off.0 {
            smtp_stopped = true;
            eprintln!("soak: {:.0} s: SMTP server stopped", ctx.secs());
            let _ = smtp.kill();
            let _ = smtp.wait();
        } else if smtp_stopped && !smtp_back && now >= smtp_off.1 {
            smtp_back = true;
            eprintln!("soak: {:.0} s: SMTP server started again", ctx.secs());
            *smtp = start_smtp(smtp_port, mailbox)?;
        } else if !attacked && now >= attack_at {
            attacked = true;
            eprintln!(
                "soak: {:.0} s: wrong passwords for {VICTIMS} users through every instance at once",
                ctx.secs()
            );
            tokio::spawn(attack(ctx.clone()));
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    if smtp_stopped && !smtp_back {
        *smtp = start_smtp(smtp_port, mailbox)?;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let _ = sampler.await;
    eprintln!(
        "soak: load done after {:.0} s; waiting for jobs and mail to drain",
        ctx.secs()
    );

    // drain: no queued or running job, an empty outbox (at most 5 minutes)
    let metrics_url = format!("http://127.0.0.1:{}/metrics", ctx.ports[0]);
    let drained_by = Instant::now() + Duration::from_secs(300);
    let mut drained = false;
    while Instant::now() < drained_by {
        if let Ok(resp) = reqwest::get(&metrics_url).await
            && let Ok(text) = resp.text().await
        {
            let busy = metric(&text, "muster_jobs{", "state=\"queued\"")
                + metric(&text, "muster_jobs{", "state=\"running\"")
                + metric(&text, "muster_outbox_depth ", "");
            if busy == 0.0 && text.contains("muster_outbox_depth") {
                drained = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    if !drained {
        ctx.tally
            .problem("jobs or mail did not drain within 5 minutes".to_owned());
    }
    // a mail sent just now may still be on its way into the mailbox
    tokio::time::sleep(Duration::from_secs(2)).await;
    check(&ctx, mailbox, &rss, &database).await
}

async fn check(ctx: &Ctx, mailbox: &Path, rss: &RssSamples, database: &str) -> R<bool> {
    let t = &ctx.tally;
    // every request answered; 5xx only in the seconds after a fault
    let windows = lock(&t.windows).clone();
    let errors = lock(&t.errors).clone();
    let outside: Vec<_> = errors
        .iter()
        .filter(|(at, _, _)| !windows.iter().any(|(a, b)| at >= a && at <= b))
        .collect();
    for (at, status, what) in outside.iter().take(10) {
        t.problem(format!(
            "{what}: {status} at {at:.1} s, outside the seconds after a fault"
        ));
    }

    // lockouts exact
    for v in 0..VICTIMS {
        let name = format!("soak-victim-{v}");
        match find_user(ctx, &name).await {
            Some(u) => {
                let count = u["attributes"]["failedLoginCount"].as_u64();
                let status = u["attributes"]["authStatus"].as_str().unwrap_or("");
                if count != Some(LOCK_LIMIT as u64) || status != "locked" {
                    t.problem(format!(
                        "{name}: failedLoginCount {count:?}, status {status}; expected {LOCK_LIMIT}, locked"
                    ));
                }
            }
            None => t.problem(format!("{name} not found")),
        }
    }

    // exports done, each with the full file
    let exports = lock(&t.exports).clone();
    for id in &exports {
        let path = format!("/api/exports/{id}");
        let Some((_, text)) = ctx
            .send("GET /api/exports/{id}", &[200], || ctx.api(reqwest::Method::GET, &path))
            .await
        else {
            continue;
        };
        let doc: Value = serde_json::from_str(&text).unwrap_or_default();
        let a = &doc["data"]["attributes"];
        if a["status"] != "done" || a["processed"] != a["total"] {
            t.problem(format!("export {id}: {a}"));
            continue;
        }
        let dl = format!("/api/exports/{id}/download");
        if let Some((_, csv)) = ctx
            .send("GET /api/exports/{id}/download", &[200], || {
                ctx.api(reqwest::Method::GET, &dl)
            })
            .await
        {
            let rows = csv.lines().count().saturating_sub(1) as u64;
            if Some(rows) != a["total"].as_u64() {
                t.problem(format!("export {id}: {rows} rows in the file, {} expected", a["total"]));
            }
        }
    }

    // imports applied once
    let imports = lock(&t.imports).clone();
    for name in &imports {
        if find_user(ctx, name).await.is_none() {
            t.problem(format!("imported user {name} is missing"));
        }
    }

    // mail: every row of the outbox (what the instances committed to send)
    // delivered exactly once, nothing delivered that the outbox does not hold
    let all = mails(mailbox);
    let bare = |id: &str| {
        id.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .split('@')
            .next()
            .unwrap_or("")
            .to_owned()
    };
    let mut delivered_times: HashMap<String, u64> = HashMap::new();
    for m in &all {
        *delivered_times.entry(bare(&m.0)).or_default() += 1;
    }
    let duplicated: u64 = delivered_times.values().map(|n| n - 1).sum();
    let unique: Vec<_> = {
        let mut s = HashSet::new();
        all.iter().filter(|m| s.insert(m.0.clone())).collect()
    };
    let outbox = outbox_rows(database)?;
    let mut lost = 0u64;
    for (id, subject, status) in &outbox {
        if !delivered_times.contains_key(&bare(id)) {
            lost += 1;
            if lost <= 5 {
                t.problem(format!(
                    "mail {id} ({subject}, {status} in the outbox) never reached the SMTP server"
                ));
            }
        }
    }
    let known: HashSet<String> = outbox.iter().map(|(id, ..)| bare(id)).collect();
    let strays = delivered_times.keys().filter(|id| !known.contains(*id)).count();
    if strays > 0 {
        t.problem(format!("{strays} mail(s) delivered that no outbox row holds"));
    }
    let in_outbox = |subject: &str| outbox.iter().filter(|m| m.1.starts_with(subject)).count() as u64;
    let count = |subject: &str| unique.iter().filter(|m| m.1.starts_with(subject)).count() as u64;
    let resets = count("Reset your muster password");
    let lockouts = count("Your muster account was locked");
    let export_mails = count("Your export #");
    // (kind, acknowledged to the client, committed by the server, delivered)
    let expected = [
        (
            "reset",
            t.resets_expected.load(Ordering::Relaxed),
            in_outbox("Reset your muster password"),
            resets,
        ),
        (
            "lockout",
            VICTIMS as u64,
            in_outbox("Your muster account was locked"),
            lockouts,
        ),
        ("export", exports.len() as u64, in_outbox("Your export #"), export_mails),
    ];
    let mut retried_twice = 0;
    for (kind, acknowledged, committed, got) in expected {
        if got != committed {
            t.problem(format!("{kind} mails: {got} delivered, {committed} in the outbox"));
        }
        if committed < acknowledged {
            t.problem(format!(
                "{kind} mails: {acknowledged} acknowledged to the client, only {committed} in the outbox"
            ));
        }
        if kind == "lockout" && committed != acknowledged {
            t.problem(format!(
                "lockout mails: {committed} in the outbox, one per victim ({acknowledged}) expected"
            ));
        }
        // a request applied whose answer a kill took away, then sent again by the client
        retried_twice += committed.saturating_sub(acknowledged);
    }
    if duplicated > 0 {
        t.problem(format!("{duplicated} mail(s) delivered twice"));
    }

    // no reset token usable twice
    let mut tried = 0;
    for m in unique
        .iter()
        .filter(|m| m.1.starts_with("Reset your muster password"))
        .take(4)
    {
        let Some(pos) = m.3.find("/reset-password?token=") else {
            t.problem("a reset mail without a link".to_owned());
            continue;
        };
        let token: String = m.3[pos + 22..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let mut uses = 0;
        for _ in 0..2 {
            let Ok(client) = cookie_client() else { continue };
            let url = format!("{}/reset-password?token={token}", ctx.lb);
            let Some((_, html)) = ctx
                .send("GET /reset-password", &[200, 400, 404, 410, 422], || client.get(&url))
                .await
            else {
                continue;
            };
            let Some(csrf) = csrf_in(&html) else { continue };
            let form = [
                ("token", token.as_str()),
                ("password", "Granite-Meadow-Lantern-64"),
                ("csrf", csrf.as_str()),
            ];
            if let Some((303, _)) = ctx
                .send("POST /reset-password", &[303, 200, 400, 404, 410, 422], || {
                    client.post(format!("{}/reset-password", ctx.lb)).form(&form)
                })
                .await
            {
                uses += 1;
            }
        }
        tried += 1;
        if uses > 1 {
            t.problem(format!("a reset link for {} worked twice", m.2));
        }
    }

    // RSS flat per instance process
    let mut rss_max = 0u64;
    for (pid, (_, samples)) in lock(rss).iter() {
        let (Some(lo), Some(hi)) = (samples.iter().min(), samples.iter().max()) else {
            continue;
        };
        rss_max = rss_max.max(*hi);
        if hi - lo > 64 * 1024 {
            t.problem(format!(
                "instance pid {pid}: RSS grew from {} to {} MB",
                lo / 1024,
                hi / 1024
            ));
        }
    }

    let problems = lock(&t.problems).clone();
    let expected_mails: u64 = expected.iter().map(|e| e.2).sum();
    let delivered: u64 = expected.iter().map(|e| e.3).sum();
    println!(
        "soak: requests {}, errors {} ({} outside fault windows), mails expected/delivered/duplicated/lost {}/{}/{}/{lost} \
         (of which {retried_twice} from a request the client sent again after a kill took its answer), \
         jobs {} exports + {} mass resets done, reset links tried {tried}, RSS max {} MB, problems {}",
        t.requests.load(Ordering::Relaxed),
        errors.len(),
        outside.len(),
        expected_mails,
        delivered,
        duplicated,
        exports.len(),
        t.mass_resets.load(Ordering::Relaxed),
        rss_max / 1024,
        problems.len()
    );
    Ok(problems.is_empty())
}

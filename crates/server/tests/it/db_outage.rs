//! The database goes away under a running `muster serve` (a PostgreSQL
//! cluster of the test's own, stopped with `pg_ctl stop -m fast`) and comes
//! back: `/readyz` follows within 2 s, pages and the API answer 503 in the
//! meantime, the process stays up, and jobs and mail carry on afterwards.

use std::time::{Duration, Instant};

use crate::support::pg_cluster::PgCluster;
use crate::support::serve_process::{ServeProcess, muster};
use crate::support::{ADMIN_PASSWORD, Client};

async fn status(http: &reqwest::Client, url: &str) -> u16 {
    match http.get(url).timeout(Duration::from_secs(5)).send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

/// Poll `/readyz` until it answers `want`; how long that took.
async fn readyz_becomes(http: &reqwest::Client, serve: &ServeProcess, want: u16, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let got = status(http, &serve.url("/readyz")).await;
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "/readyz still answers {got}, not {want}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stops_and_returns_under_a_running_instance() {
    let mut pg = PgCluster::start();
    let data = tempfile::tempdir().unwrap();
    let with_db = |mut c: std::process::Command| {
        c.args(["--database-url", &pg.url()]);
        c
    };
    let mut serve = ServeProcess::start(with_db(muster(data.path())), data.path());
    let out = with_db(muster(data.path()))
        .args(["apikey", "create", "--username", "admin"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let http = reqwest::Client::new();
    let base = serve.base.clone();
    let api = |path: &str| {
        http.get(format!("{base}{path}"))
            .bearer_auth(&key)
            .timeout(Duration::from_secs(5))
    };

    let ui = Client::new(&serve.base);
    assert_eq!(ui.login("admin", ADMIN_PASSWORD).await.status(), 303);
    assert_eq!(ui.get("/admin/users").await.status(), 200);
    assert_eq!(status(&http, &serve.url("/readyz")).await, 200);

    // the database goes away
    pg.stop();
    let took = readyz_becomes(&http, &serve, 503, Duration::from_secs(2)).await;
    eprintln!("/readyz answered 503 {took:?} after PostgreSQL stopped");

    let started = Instant::now();
    let page = ui.get("/admin/users").await;
    assert_eq!(page.status(), 503);
    assert!(page.headers().contains_key("retry-after"));
    let html = page.text().await.unwrap();
    assert!(html.contains("temporarily unavailable"), "{html}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the page answers at once, not after the pool's timeout"
    );

    let resp = api("/api/users").send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/vnd.api+json"
    );
    let doc: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(doc["errors"][0]["status"], "503");
    assert_eq!(doc["errors"][0]["code"], "unavailable");
    assert_eq!(status(&http, &serve.url("/healthz")).await, 200);

    // a few seconds away: the workers fail their polls meanwhile; nothing exits
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(4) {
        assert!(serve.alive(), "muster serve exited while the database was away");
        assert_eq!(status(&http, &serve.url("/readyz")).await, 503);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // it comes back
    pg.resume();
    let took = readyz_becomes(&http, &serve, 200, Duration::from_secs(10)).await;
    eprintln!("/readyz answered 200 {took:?} after PostgreSQL returned");
    assert!(serve.alive());
    let started = Instant::now();
    loop {
        // the gate opens within a second of the monitor's next ping
        if ui.get("/admin/users").await.status() == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "pages did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resp = api("/api/users").send().await.unwrap();
    assert_eq!(resp.status(), 200, "the session and the key still work");

    // the job worker and the mail worker resume by themselves: an export runs and its mail goes out
    let resp = http
        .post(serve.url("/api/exports/users"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let job: serde_json::Value = resp.json().await.unwrap();
    let id = job["data"]["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    loop {
        let doc: serde_json::Value = api(&format!("/api/exports/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if doc["data"]["attributes"]["status"] == "done" {
            break;
        }
        assert_ne!(doc["data"]["attributes"]["status"], "failed", "{doc}");
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the export did not run after the outage: {doc}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mail_dir = data.path().join("mail");
    loop {
        let delivered = std::fs::read_dir(&mail_dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .count()
            })
            .unwrap_or(0);
        if delivered > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the export's mail was not delivered after the outage"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(serve.alive());
    assert!(serve.stop(), "a clean stop after the outage: {}", serve.stderr());
}

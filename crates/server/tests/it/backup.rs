//! `muster backup --out FILE` while `muster serve` writes, `muster restore`
//! into a fresh data dir, and signing in there.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::serve_process::{ServeProcess, muster};
use crate::support::{ADMIN_PASSWORD, Client, PASSWORD};

fn new_user(name: &str) -> serde_json::Value {
    json!({"data": {"type": "users", "attributes": {
        "username": name, "email": format!("{name}@example.com"),
        "firstName": "Backed", "lastName": "Up", "password": PASSWORD, "roles": ["User"]
    }}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_writes_then_restore_and_sign_in() {
    let live = tempfile::tempdir().unwrap();
    let mut serve = ServeProcess::start(muster(live.path()), live.path());
    let out = muster(live.path())
        .args(["apikey", "create", "--username", "admin"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let http = reqwest::Client::new();
    let resp = http
        .post(serve.url("/api/users"))
        .bearer_auth(&key)
        .json(&new_user("before-backup"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);

    // a writer that creates users through the API until told to stop
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (stop, written, http, key, url) = (
            stop.clone(),
            written.clone(),
            http.clone(),
            key.clone(),
            serve.url("/api/users"),
        );
        tokio::spawn(async move {
            let started = Instant::now();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
                let resp = http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&new_user(&format!("writer-{i}")))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
                written.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        })
    };
    let started = Instant::now();
    while written.load(Ordering::Relaxed) < 3 {
        assert!(started.elapsed() < Duration::from_secs(30), "the writer does not write");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let saved = tempfile::tempdir().unwrap();
    let file = saved.path().join("muster-backup.db");
    let (dir, f) = (live.path().to_path_buf(), file.clone());
    let out = tokio::task::spawn_blocking(move || muster(&dir).arg("backup").arg("--out").arg(&f).output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("backed up "));
    let during = written.load(Ordering::Relaxed);
    // the writes go on after the copy
    while written.load(Ordering::Relaxed) < during + 2 {
        assert!(
            started.elapsed() < Duration::from_secs(50),
            "writes stopped after the backup"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let total = written.load(Ordering::Relaxed);
    assert!(serve.stop());

    // an existing file is never overwritten
    let out = muster(live.path())
        .arg("backup")
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert!(!saved.path().join("muster-backup.db.partial").exists());

    // restore into a fresh data dir, then sign in there
    let fresh = tempfile::tempdir().unwrap();
    let out = muster(fresh.path()).arg("restore").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = muster(fresh.path()).arg("restore").arg(&file).output().unwrap();
    assert!(!out.status.success(), "a database that exists is not overwritten");

    let mut restored = ServeProcess::start(muster(fresh.path()), fresh.path());
    let admin = Client::new(&restored.base);
    assert_eq!(admin.login("admin", ADMIN_PASSWORD).await.status(), 303);
    let user = Client::new(&restored.base);
    assert_eq!(user.login("before-backup", PASSWORD).await.status(), 303);
    let resp = http
        .get(restored.url("/api/users?filter[search]=writer-&page[size]=500"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the API key came along");
    let doc: serde_json::Value = resp.json().await.unwrap();
    let n = doc["meta"]["totalCount"].as_u64().unwrap() as usize;
    assert!(
        (3..total).contains(&n),
        "the copy holds the writes made before it ({n} of {total} written by the end)"
    );
    assert!(restored.stop());
}

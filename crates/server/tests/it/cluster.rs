//! `scripts/cluster up 2`: two `muster serve` (started from
//! docs/deploy/muster@.service) on one PostgreSQL of the script's own, behind
//! HAProxy (docs/deploy/haproxy.cfg). A session made through one instance
//! works on the other; an instance killed with SIGKILL costs no request;
//! `down` stops everything it started.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{ADMIN_PASSWORD, Client};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/cluster")
}

struct Cluster {
    state: tempfile::TempDir,
}

impl Cluster {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(script())
            .args(args)
            .env("MUSTER_CLUSTER_DIR", self.state.path().join("c"))
            .env("MUSTER_BIN", env!("CARGO_BIN_EXE_muster"))
            .env("MUSTER_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env_remove("MUSTER_DATABASE_URL")
            .output()
            .unwrap()
    }

    fn pid(&self, name: &str) -> Option<i32> {
        std::fs::read_to_string(self.state.path().join("c").join(name))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // what the instances said, before `down` removes their logs
            let status = self.run(&["status"]);
            eprintln!("{}", String::from_utf8_lossy(&status.stdout));
            for i in 1..=2 {
                let log = self.state.path().join("c").join(format!("muster-{i}.log"));
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                eprintln!("--- muster-{i}.log (last lines) ---");
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        let _ = self.run(&["down"]);
    }
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_haproxy_survive_a_kill() {
    let cluster = Cluster {
        state: tempfile::tempdir().unwrap(),
    };
    let out = cluster.run(&["up", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let lb = stdout
        .lines()
        .find_map(|l| l.strip_prefix("balancer: "))
        .unwrap()
        .trim()
        .to_owned();
    let pids: Vec<i32> = ["muster-1.pid", "muster-2.pid", "haproxy.pid"]
        .iter()
        .map(|f| cluster.pid(f).unwrap_or_else(|| panic!("no {f}")))
        .collect();

    // round robin: the session made on one instance is read by both
    let web = Client::new(&lb);
    assert_eq!(web.login("admin", ADMIN_PASSWORD).await.status(), 303);
    for _ in 0..4 {
        assert_eq!(web.get("/admin/users").await.status(), 200);
    }
    assert_eq!(
        web.get("/metrics").await.status(),
        404,
        "the balancer does not pass /metrics through"
    );

    // SIGKILL one instance: the balancer retries refused connections on the other, and a GET
    // whose kept-alive connection died with the instance (docs/deploy/haproxy.cfg)
    let out = cluster.run(&["kill", "1"]);
    assert!(out.status.success());
    let started = Instant::now();
    let mut answered = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let status = web.get("/admin/users").await.status();
        assert_eq!(status, 200, "request {answered} after the kill failed");
        answered += 1;
    }
    assert!(answered > 3);
    let out = cluster.run(&["start", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let restarted = cluster.pid("muster-1.pid").unwrap();
    assert_eq!(web.get("/admin/users").await.status(), 200);

    let out = cluster.run(&["down"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for pid in [restarted, pids[1], pids[2]] {
        assert!(!alive(pid), "process {pid} still runs after down");
    }
    assert!(!alive(pids[0]));
}

//! The `muster` binary: user create/list, migrate, SIGTERM.

use std::io::Write;
use std::process::{Command, Stdio};

fn muster(data_dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_muster"));
    c.arg("--data-dir")
        .arg(data_dir)
        .env("MUSTER_LOG", "warn")
        .env_remove("MUSTER_DATABASE_URL");
    c
}

#[test]
fn user_create_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let out = muster(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // there is no organization yet: a clear error, nothing created
    let out = muster(dir.path())
        .args(["user", "create", "--username", "ops", "--email", "ops@example.com"])
        .args([
            "--first-name",
            "Op",
            "--last-name",
            "Erator",
            "--organization",
            "Nowhere",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown organization"));

    let mut child = muster(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("MUSTER_ADMIN_PASSWORD", crate::support::ADMIN_PASSWORD)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    assert!(
        lines
            .next()
            .unwrap()
            .unwrap()
            .starts_with("muster listening on http://127.0.0.1:")
    );
    // SIGTERM: a clean stop
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success(), "exits 0 on SIGTERM");

    let mut create = muster(dir.path())
        .args(["user", "create", "--username", "ops", "--email", "ops@example.com"])
        .args([
            "--first-name",
            "Op",
            "--last-name",
            "Erator",
            "--role",
            "User Manager",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    create.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(!out.status.success(), "the password policy applies");
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12 characters"));

    let mut create = muster(dir.path())
        .args(["user", "create", "--username", "ops", "--email", "ops@example.com"])
        .args([
            "--first-name",
            "Op",
            "--last-name",
            "Erator",
            "--role",
            "User Manager",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(crate::support::PASSWORD.as_bytes())
        .unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("created user ops"));

    let out = muster(dir.path()).args(["user", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("admin") && text.contains("ops@example.com") && text.contains("User Manager"),
        "{text}"
    );
    assert!(text.contains("2 user(s)"));
    let out = muster(dir.path())
        .args(["user", "list", "--view", "disabled"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 user(s)"));
    let out = muster(dir.path())
        .args(["user", "list", "--view", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn seed_adds_users_in_realistic_proportions() {
    let dir = tempfile::tempdir().unwrap();
    let out = muster(dir.path())
        .args(["seed", "--users", "300", "--records", "40"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("seeded 300 users and 40 records"));
    let out = muster(dir.path())
        .args(["user", "list", "--limit", "1"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("300 user(s)"));
    let out = muster(dir.path())
        .args(["user", "list", "--limit", "1", "--view", "disabled"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let disabled: i64 = text.lines().last().unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!((5..=60).contains(&disabled), "about 8% disabled, got {disabled}");
    // a second run continues the ids
    let out = muster(dir.path()).args(["seed", "--users", "10"]).output().unwrap();
    assert!(out.status.success());
    let out = muster(dir.path())
        .args(["user", "list", "--limit", "1"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("310 user(s)"));
}

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
    // the 300 seeded, and the administrator a seed of an empty database creates first
    assert!(String::from_utf8_lossy(&out.stdout).contains("301 user(s)"));
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
    assert!(String::from_utf8_lossy(&out.stdout).contains("311 user(s)"));
}

/// Every log line of a request names its id (the client's `x-request-id`, or a
/// new one), the response carries it back, and no query string (where a reset
/// link keeps its token) reaches the log.
#[tokio::test(flavor = "multi_thread")]
async fn request_ids_are_logged_and_echoed_and_queries_are_not_logged() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = muster(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("MUSTER_LOG", "warn,tower_http=debug")
        .env("MUSTER_ADMIN_PASSWORD", crate::support::ADMIN_PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let first = lines.next().unwrap().unwrap();
    let base = first.trim_start_matches("muster listening on ").trim().to_owned();
    let http = reqwest::Client::new();
    let given = http
        .get(format!("{base}/healthz"))
        .header("x-request-id", "test-id-4242")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "test-id-4242");
    let a = http.get(format!("{base}/login")).send().await.unwrap();
    let b = http.get(format!("{base}/login")).send().await.unwrap();
    let (a, b) = (&a.headers()["x-request-id"], &b.headers()["x-request-id"]);
    assert!(!a.is_empty() && a != b, "each request gets its own id");
    let a = a.to_str().unwrap().to_owned();
    http.get(format!("{base}/reset-password?token=SECRET-TOKEN-VALUE"))
        .send()
        .await
        .unwrap();
    assert!(
        Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("id=test-id-4242") && log.contains("path=/healthz"),
        "{log}"
    );
    assert!(log.contains(&format!("id={a}")), "{log}");
    assert!(log.contains("path=/reset-password"), "{log}");
    assert!(
        !log.contains("SECRET-TOKEN-VALUE"),
        "a query string reached the log:\n{log}"
    );
}

/// `MUSTER_LOG_FORMAT=json`: every line on standard error is one JSON object,
/// and a line written during a request carries the request's id.
#[tokio::test]
async fn json_logs() {
    use crate::support::serve_process::{ServeProcess, muster as serve_cmd};
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = serve_cmd(dir.path());
    cmd.env("MUSTER_LOG_FORMAT", "json")
        .env("MUSTER_LOG", "info,tower_http=debug");
    let mut serve = ServeProcess::start(cmd, dir.path());
    let resp = reqwest::Client::new()
        .get(serve.url("/readyz"))
        .header("x-request-id", "json-log-probe")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(serve.stop());
    let log = serve.stderr();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l.is_object() && l["level"].is_string() && l["timestamp"].is_string())
    );
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "muster started"),
        "{log}"
    );
    assert!(
        lines.iter().any(|l| l["span"]["id"] == "json-log-probe"),
        "a request's lines carry its id: {log}"
    );

    let out = muster(dir.path())
        .env("MUSTER_LOG_FORMAT", "xml")
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MUSTER_LOG_FORMAT must be text or json"));
}

/// A seed before the first `serve` leaves an administrator who can sign in; the
/// seed's help and summary speak of records in total; errors read as sentences.
#[tokio::test]
async fn seed_on_an_empty_database_and_sentences() {
    use crate::support::serve_process::{ServeProcess, muster as with_admin_password};
    let dir = tempfile::tempdir().unwrap();

    let help = muster(dir.path()).args(["seed", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    assert!(help.contains("--users") && help.contains("--records"), "{help}");
    assert!(help.contains("in total (not per user)"), "{help}");

    // without MUSTER_ADMIN_PASSWORD: the administrator is created and its password printed once
    let out = muster(dir.path())
        .env_remove("MUSTER_ADMIN_PASSWORD")
        .args(["seed", "--users", "5", "--records", "7"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Created the administrator \"admin\" (admin@example.com) with the password: "),
        "{stdout}"
    );
    assert!(stdout.contains("seeded 5 users and 7 records"), "{stdout}");
    let generated = stdout
        .lines()
        .find_map(|l| l.split("with the password: ").nth(1))
        .unwrap()
        .trim()
        .to_owned();

    // a second seed adds users, not another administrator
    let out = muster(dir.path()).args(["seed", "--users", "2"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("Created the administrator"), "{stdout}");
    assert!(stdout.contains("seeded 2 users and 0 records"), "{stdout}");

    // records need owners: refused in a sentence, nothing claimed
    let out = muster(dir.path())
        .args(["seed", "--users", "0", "--records", "3"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("records need --users above 0"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // the generated password signs in (MUSTER_ADMIN_PASSWORD does not replace an existing admin)
    let mut serve = ServeProcess::start(with_admin_password(dir.path()), dir.path());
    let web = crate::support::Client::new(&serve.base);
    assert_eq!(web.login("admin", &generated).await.status(), 303);
    assert!(serve.stop());

    // a taken username, as a sentence naming it
    let create = |name: &str, email: &str| {
        muster(dir.path())
            .args(["user", "create", "--username", name, "--email", email])
            .args(["--first-name", "Op", "--last-name", "Erator"])
            .output()
            .unwrap()
    };
    assert!(create("ops", "ops@example.com").status.success());
    let out = create("ops", "other@example.com");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("username 'ops' is already taken"), "{stderr}");
    let out = create("ops2", "OPS@example.com");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("email 'OPS@example.com' is already taken"), "{stderr}");
}

/// What a seed made, apart from its times (they follow the clock): every user's
/// fields, roles and organizations, the records, and the counters the triggers keep.
async fn seeded_shape(store: &muster_store::Store) -> Vec<String> {
    use sqlx::Row;
    let mut conn = store.conn().await.unwrap();
    let mut shape = Vec::new();
    for sql in [
        "SELECT id || ' ' || username || ' ' || username_lc || ' ' || email || ' ' || email_lc || ' ' || first_name \
         || ' ' || last_name || ' ' || enabled || ' ' || auth_status || ' ' || failed_login_count || ' ' || \
         login_count || ' ' || COALESCE(CAST(last_login_at - updated_at AS TEXT), 'never') || ' ' || \
         CAST(updated_at >= created_at AS INTEGER) || ' ' || roles_text || ' ' || orgs_text || ' ' || search_text \
         || ' ' || first_name_key || ' ' || last_name_key || ' ' || password_hash \
         FROM users JOIN user_status ON user_status.user_id = users.id \
         WHERE username <> 'admin' ORDER BY id",
        "SELECT user_id || ' ' || role FROM user_roles ORDER BY user_id, role",
        "SELECT user_id || ' ' || organization_id FROM user_organizations ORDER BY user_id, organization_id",
        "SELECT id || ' ' || kind || ' ' || title || ' ' || owner_id || ' ' || organization_id FROM records ORDER BY id",
        "SELECT enabled || ' ' || auth_status || ' ' || n FROM user_counts WHERE n > 0 ORDER BY enabled, auth_status",
        "SELECT organization_id || ' ' || enabled || ' ' || auth_status || ' ' || n FROM user_org_counts WHERE n > 0 \
         ORDER BY organization_id, enabled, auth_status",
    ] {
        for row in sqlx::query(sql).fetch_all(&mut *conn).await.unwrap() {
            shape.push(row.get::<String, _>(0));
        }
    }
    shape
}

/// The PostgreSQL seed loads through COPY, the SQLite one through INSERTs: the
/// same users, roles, organizations, records and counters come out of both,
/// with the indexes deferred (10,000 users and more) and without.
#[tokio::test]
async fn the_seed_makes_the_same_data_on_both_databases() {
    for (users, records) in [(12_000, 1_500), (300, 40)] {
        let lite = crate::support::TestDb::sqlite();
        let pg = crate::support::TestDb::postgres().await;
        let mut shapes = Vec::new();
        for db in [&lite, &pg] {
            let store = db.store().await;
            muster_server::services::bootstrap::ensure_admin(
                &store,
                &muster_server::hashing::Hasher::new(),
                Some("Bootstrap-Admin-Pass-42".into()),
            )
            .await
            .unwrap();
            let report = muster_server::seed::run(
                &store,
                users,
                records,
                "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA",
                false,
            )
            .await
            .unwrap();
            assert_eq!((report.users, report.records), (users, records));
            // the deferred search index is back: a search finds the seeded users
            let filter = muster_domain::UserFilter {
                search: Some("smith".into()),
                ..Default::default()
            };
            let found = muster_store::users::count(
                &mut store.conn().await.unwrap(),
                &muster_store::users::Scope::System,
                &filter,
            )
            .await
            .unwrap();
            assert!(found > 0, "{}", db.url);
            shapes.push(seeded_shape(&store).await);
        }
        assert_eq!(shapes[0].len(), shapes[1].len());
        for (a, b) in shapes[0].iter().zip(&shapes[1]) {
            assert_eq!(a, b);
        }
    }
}

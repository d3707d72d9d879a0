//! Issue 18, the data findings: look-alike and hidden Unicode in names
//! (finding 7), live reset tokens left in the bytes of the SQLite file and its
//! WAL (finding 5), and *forgot password* doing the same work for an unknown
//! account (finding 6; its timing is measured by `muster-bench --forgot-timing`).

use std::time::{Duration, Instant};

use muster_store::Backend;
use serde_json::{Value, json};

use crate::api_client::{Api, key_for};
use crate::mailbox::{reset_link, start_worker, wait_spool};
use crate::support::{ADMIN_PASSWORD, TestApp, TestDb};

fn new_user(username: &str, first_name: &str) -> Value {
    json!({"data": {"type": "users", "attributes": {
        "username": username, "email": format!("u{}@example.com", username.chars().map(u32::from).sum::<u32>()),
        "firstName": first_name, "lastName": "Doe", "password": "Quiet-Lantern-Orchard-73",
        "roles": ["User"]
    }}})
}

fn new_org(name: &str) -> Value {
    json!({"data": {"type": "organizations", "attributes": {"name": name}}})
}

#[tokio::test(flavor = "multi_thread")]
async fn look_alike_and_hidden_characters_are_refused_with_the_pointer() {
    let app = TestApp::spawn().await;
    let admin = app.user_by_name("admin").await;
    let api = Api::new(&app, Some(&key_for(&app, admin.id, None).await));

    // deny cases first: each answered 422 with the attribute and a message naming the problem
    let cases: [(Value, &str, &str); 7] = [
        (new_user("admın", "Eve"), "/data/attributes/username", "U+0131"),
        (
            new_user("\u{0430}dmin", "Eve"),
            "/data/attributes/username",
            "one script",
        ),
        (
            new_user("admin\u{200B}", "Eve"),
            "/data/attributes/username",
            "U+200B ZERO WIDTH SPACE",
        ),
        (
            new_user("ad\u{00AD}min", "Eve"),
            "/data/attributes/username",
            "SOFT HYPHEN",
        ),
        (
            new_user("eve", "Eve\u{202E}nimda"),
            "/data/attributes/firstName",
            "U+202E RIGHT-TO-LEFT OVERRIDE",
        ),
        (
            new_org("Main\u{200B}"),
            "/data/attributes/name",
            "U+200B ZERO WIDTH SPACE",
        ),
        (new_org("M\u{0430}in"), "/data/attributes/name", "one script"),
    ];
    for (body, pointer, says) in cases {
        let path = if body["data"]["type"] == "users" {
            "/api/users"
        } else {
            "/api/organizations"
        };
        let r = api.post(path, body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        assert_eq!(r.pointer(), pointer, "{}", r.text);
        assert!(r.detail().contains(says), "{says:?} not in {}", r.detail());
    }
    // one script, but reads as an existing plain name: Cyrillic а, с, е beside "ace"
    let r = api.post("/api/users", new_user("ace", "Ace")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api
        .post("/api/users", new_user("\u{0430}\u{0441}\u{0435}", "Eve"))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.pointer(), "/data/attributes/username");
    assert!(
        r.detail().contains("looks like the existing username \"ace\""),
        "{}",
        r.detail()
    );

    // a full-width spelling is the plain name after NFKC, so it collides with it
    let r = api.post("/api/organizations", new_org("Ｍａｉｎ")).await;
    assert_eq!(r.status, 409, "{}", r.text);

    // allowed: accented Latin, a single other script, CJK
    for name in ["josé", "иван", "山田"] {
        let r = api.post("/api/users", new_user(name, "Zoë")).await;
        assert_eq!(r.status, 201, "{name}: {}", r.text);
        assert_eq!(r.body["data"]["attributes"]["username"], name);
    }
    let r = api.post("/api/organizations", new_org("Société Générale")).await;
    assert_eq!(r.status, 201, "{}", r.text);

    // nothing of the refused ones was stored
    let mut conn = app.store().conn().await.unwrap();
    let names: Vec<String> = sqlx::query_scalar("SELECT username FROM users ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(names, ["admin", "ace", "josé", "иван", "山田"]);
}

/// Every token of `tokens` found in `bytes`.
fn tokens_in<'a>(bytes: &[u8], tokens: &'a [String]) -> Vec<&'a str> {
    tokens
        .iter()
        .filter(|t| bytes.windows(t.len()).any(|w| w == t.as_bytes()))
        .map(String::as_str)
        .collect()
}

fn file_bytes(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn delivered_reset_tokens_are_not_left_in_the_database_file_or_its_wal() {
    let app = TestApp::spawn_on(TestDb::sqlite()).await;
    start_worker(&app);
    let single = app.create_user("single", &["User"]).await;
    app.create_user("forgetful", &["User"]).await;
    for i in 1..=6 {
        app.create_user(&format!("massed{i}"), &["User"]).await;
    }
    let admin = app.user_by_name("admin").await;

    // one reset through the API, one forgotten password, one mass reset
    let api = Api::new(&app, Some(&key_for(&app, admin.id, None).await));
    let r = api
        .post_empty(&format!("/api/users/{}/reset-password", single.id))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let anon = app.client();
    let r = anon
        .post("/forgot-password", "/forgot-password", &[("login", "forgetful")])
        .await;
    assert_eq!(r.status(), 200);
    let web = app.signed_in("admin", ADMIN_PASSWORD).await;
    let r = web
        .post(
            "/profile",
            "/admin/users/mass/reset-password",
            &[("all_matching", "1"), ("view", "all"), ("q", "massed")],
        )
        .await;
    assert_eq!(r.status(), 303);
    crate::csv_support::run_jobs(&app).await;

    let mails = wait_spool(&app, 8).await;
    let tokens: Vec<String> = mails
        .iter()
        .filter_map(|m| reset_link(m))
        .map(|l| l.rsplit_once("token=").unwrap().1.to_owned())
        .collect();
    assert_eq!(tokens.len(), 8, "one link per mail");

    // the database keeps only their SHA-256
    let mut conn = app.store().conn().await.unwrap();
    let mut hashes: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM password_reset_tokens")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    hashes.sort();
    let mut expected: Vec<String> = tokens.iter().map(|t| muster_server::crypto::sha256_hex(t)).collect();
    expected.sort();
    assert_eq!(hashes, expected);

    // once delivered (bodies emptied, WAL checkpointed) no token is left in the bytes
    let db = app.data_dir().join("muster.db");
    let wal = app.data_dir().join("muster.db-wal");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let in_db = tokens_in(&file_bytes(&db), &tokens);
        let in_wal = tokens_in(&file_bytes(&wal), &tokens);
        if in_db.is_empty() && in_wal.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} token(s) still in muster.db, {} in muster.db-wal",
            in_db.len(),
            in_wal.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!file_bytes(&db).is_empty(), "the database file was read");

    // …and they were live: each link still opens the form
    for t in &tokens {
        let r = app.client().get(&format!("/reset-password?token={t}")).await;
        assert_eq!(r.status(), 200, "token {t} should still be usable");
    }
}

/// The last id handed out for an outbox row (decoys included).
async fn outbox_sequence(app: &TestApp) -> i64 {
    let sql = match app.store().backend {
        Backend::Sqlite => "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'mail_outbox'",
        Backend::Postgres => "SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence('mail_outbox', 'id')), 0)",
    };
    count(app, sql).await
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let mut conn = app.store().conn().await.unwrap();
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

/// (mails, tokens, audit events of forgot password) in the database.
async fn kept(app: &TestApp) -> (i64, i64, i64) {
    (
        count(app, "SELECT COUNT(*) FROM mail_outbox").await,
        count(app, "SELECT COUNT(*) FROM password_reset_tokens").await,
        count(
            app,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'user.password_reset_requested'",
        )
        .await,
    )
}

async fn forgot_password_does_the_same_writes_for_an_unknown_account_and_keeps_none(app: TestApp) {
    app.create_user("known", &["User"]).await;
    let anon = app.client();
    let ask = |login: &'static str| {
        let anon = &anon;
        async move {
            let r = anon
                .post("/forgot-password", "/forgot-password", &[("login", login)])
                .await;
            assert_eq!(r.status(), 200);
        }
    };
    let seq0 = outbox_sequence(&app).await;
    let (mails0, tokens0, events0) = kept(&app).await;

    ask("known@example.com").await;
    assert_eq!(outbox_sequence(&app).await, seq0 + 1);
    assert_eq!(
        kept(&app).await,
        (mails0 + 1, tokens0 + 1, events0 + 1),
        "the real request"
    );

    // unknown: the same INSERTs are made (the sequence moves) but nothing stays
    ask("nobody@example.com").await;
    assert_eq!(outbox_sequence(&app).await, seq0 + 2);
    assert_eq!(
        kept(&app).await,
        (mails0 + 1, tokens0 + 1, events0 + 1),
        "nothing for nobody"
    );

    // over the limit of 3 links per quarter hour: the same decoy
    ask("known").await;
    ask("known").await;
    assert_eq!(kept(&app).await, (mails0 + 3, tokens0 + 3, events0 + 3));
    ask("known").await;
    assert_eq!(outbox_sequence(&app).await, seq0 + 5);
    assert_eq!(
        kept(&app).await,
        (mails0 + 3, tokens0 + 3, events0 + 3),
        "the fourth link is not sent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forgot_password_same_writes_sqlite() {
    forgot_password_does_the_same_writes_for_an_unknown_account_and_keeps_none(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forgot_password_same_writes_postgres() {
    let app = TestApp::spawn_on(TestDb::postgres().await).await;
    forgot_password_does_the_same_writes_for_an_unknown_account_and_keeps_none(app).await;
}

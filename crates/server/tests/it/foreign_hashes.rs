//! Password hashes made by other applications: users created through the API
//! and the CSV import with bcrypt, Django, Symfony/Oro and PBKDF2 (Keycloak)
//! hashes sign in over HTTP, leave with an Argon2id hash, and meet every
//! sign-in rule an Argon2 user meets. The hashes are made here by reference
//! implementations (Python's hashlib, and libxcrypt's bcrypt through Python's
//! `crypt`), never by the code under test.

use std::process::Command;

use muster_domain::AuthStatus;
use serde_json::{Value, json};

use crate::api_client::{Api, key_for};
use crate::csv_support::{outbox, rejected_rows, upload};
use crate::support::{ADMIN_PASSWORD, PASSWORD, TestApp, TestDb};

/// Reference hashes of `password`, keyed by scheme, made by Python.
fn reference_hashes(password: &str) -> Vec<(String, String)> {
    let script = r#"
import base64, crypt, hashlib, json, sys, warnings
warnings.simplefilter("ignore")
pw = sys.argv[1].encode()
b64 = lambda b: base64.b64encode(b).decode()
phc = lambda b: base64.b64encode(b).decode().rstrip("=")
out = {}
out["django_pbkdf2_sha256"] = "pbkdf2_sha256$%d$%s$%s" % (
    20000, "Zx8SaltDjango", b64(hashlib.pbkdf2_hmac("sha256", pw, b"Zx8SaltDjango", 20000)))
out["django_pbkdf2_sha1"] = "pbkdf2_sha1$%d$%s$%s" % (
    12000, "s1lt", b64(hashlib.pbkdf2_hmac("sha1", pw, b"s1lt", 12000)))
# Symfony MessageDigestPasswordHasher('sha512', true, 5000), as Oro stores it
salt = "k3jd8fhs0aoc0skwgks4wcw8wk0go4s"
salted = pw + b"{" + salt.encode() + b"}"
d = hashlib.sha512(salted).digest()
for _ in range(1, 5000):
    d = hashlib.sha512(d + salted).digest()
out["sha512_symfony"] = "sha512-symfony$5000$%s$%s" % (salt, b64(d))
# bcrypt from libxcrypt, in the three spellings
for v in ("2a", "2b", "2y"):
    out["bcrypt_" + v] = crypt.crypt(pw.decode(), "$%s$10$abcdefghijklmnopqrstuu" % v)
# Django bcrypt_sha256: bcrypt of the hex SHA-256
out["django_bcrypt_sha256"] = "bcrypt_sha256$" + crypt.crypt(
    hashlib.sha256(pw).hexdigest(), "$2b$10$ABCDEFGHIJKLMNOPQRSTUu")
# Keycloak PBKDF2, written as PHC strings
ks = b"\x01\x02keycloak-salt\x03"
out["pbkdf2_sha256"] = "$pbkdf2-sha256$i=27500$%s$%s" % (phc(ks), phc(hashlib.pbkdf2_hmac("sha256", pw, ks, 27500, 64)))
out["pbkdf2_sha512"] = "$pbkdf2-sha512$i=10000$%s$%s" % (phc(ks), phc(hashlib.pbkdf2_hmac("sha512", pw, ks, 10000, 64)))
print(json.dumps(out))
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script, password])
        .output()
        .expect("run /usr/bin/python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let map: serde_json::Map<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut v: Vec<(String, String)> = map
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap().to_owned()))
        .collect();
    // The argon2 reference implementation's own test vector (test.c): "password", "somesalt", t=2, m=64 MiB
    if password == "password" {
        v.push((
            "django_argon2".into(),
            "argon2$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc".into(),
        ));
    }
    for (k, h) in &v {
        assert!(!h.is_empty() && !h.starts_with('*'), "{k}: {h}");
    }
    v
}

async fn login_status(app: &TestApp, username: &str, password: &str) -> (u16, String) {
    let resp = app.client().login(username, password).await;
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

async fn audit_actions(app: &TestApp, target: &str) -> Vec<String> {
    let mut conn = app.store().conn().await.unwrap();
    muster_store::audit::list(&mut conn, &Default::default(), 500, 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.target_username == target)
        .map(|e| e.action)
        .collect()
}

/// Each scheme: created through `POST /api/users` with `passwordHash`, a wrong
/// password counts like for an Argon2 user, the right one signs in, and the
/// stored hash is Argon2id afterwards (audited).
async fn api_users_sign_in_and_are_rehashed(app: TestApp) {
    let admin = app.user_by_name("admin").await;
    let api = Api::new(&app, Some(&key_for(&app, admin.id, None).await));
    let hashes = reference_hashes(PASSWORD);
    for (i, (scheme, hash)) in hashes.iter().enumerate() {
        let username = format!("fh{i}");
        let r = api
            .post(
                "/api/users",
                json!({"data": {"type": "users", "attributes": {
                    "username": username, "email": format!("{username}@example.com"),
                    "firstName": "Fo", "lastName": "Reign", "passwordHash": hash}}}),
            )
            .await;
        assert_eq!(r.status, 201, "{scheme}: {}", r.text);
        assert!(!r.text.contains(hash.as_str()), "{scheme}: the hash is write-only");
        let u = app.user_by_name(&username).await;
        assert_eq!(
            &u.password_hash, hash,
            "{scheme}: stored as given until the first sign-in"
        );
        assert_eq!(u.auth_status, AuthStatus::Active);

        let (status, body) = login_status(&app, &username, "Wrong-Password-123456").await;
        assert_eq!(status, 401, "{scheme}");
        assert!(body.contains("Invalid username or password."), "{scheme}");
        let after_wrong = app.user(u.id).await;
        assert_eq!(after_wrong.failed_login_count, 1, "{scheme}: a wrong password counts");
        assert_eq!(&after_wrong.password_hash, hash, "{scheme}: unchanged by a failure");

        let (status, _) = login_status(&app, &username, PASSWORD).await;
        assert_eq!(status, 303, "{scheme}: the right password signs in");
        let after = app.user(u.id).await;
        assert!(
            after.password_hash.starts_with("$argon2id$v=19$"),
            "{scheme}: {}",
            after.password_hash
        );
        assert_eq!(after.failed_login_count, 0, "{scheme}");
        assert_eq!(
            login_status(&app, &username, PASSWORD).await.0,
            303,
            "{scheme}: Argon2id now"
        );
        assert_eq!(
            audit_actions(&app, &username)
                .await
                .iter()
                .filter(|a| *a == "user.password_rehashed")
                .count(),
            1,
            "{scheme}: the upgrade is audited once"
        );
    }
    assert_eq!(hashes.len(), 9, "every scheme made by python ran");
}

#[tokio::test(flavor = "multi_thread")]
async fn api_users_sign_in_and_are_rehashed_sqlite() {
    api_users_sign_in_and_are_rehashed(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn api_users_sign_in_and_are_rehashed_postgres() {
    api_users_sign_in_and_are_rehashed(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn django_argon2_reference_vector_signs_in() {
    let app = TestApp::spawn().await;
    let admin = app.user_by_name("admin").await;
    let api = Api::new(&app, Some(&key_for(&app, admin.id, None).await));
    let hashes = reference_hashes("password");
    let (_, hash) = hashes.iter().find(|(k, _)| k == "django_argon2").unwrap();
    let r = api
        .post(
            "/api/users",
            json!({"data": {"type": "users", "attributes": {
                "username": "dj", "email": "dj@example.com", "firstName": "D", "lastName": "J",
                "password_hash": hash}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(login_status(&app, "dj", "passwore").await.0, 401);
    assert_eq!(login_status(&app, "dj", "password").await.0, 303);
    let u = app.user_by_name("dj").await;
    assert!(
        u.password_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        u.password_hash
    );
}

#[tokio::test]
async fn api_refuses_weak_malformed_and_double_passwords() {
    let app = TestApp::spawn().await;
    let admin = app.user_by_name("admin").await;
    let api = Api::new(&app, Some(&key_for(&app, admin.id, None).await));
    let bcrypt9 = reference_hashes(PASSWORD)
        .into_iter()
        .find(|(k, _)| k == "bcrypt_2b")
        .unwrap()
        .1
        .replacen("$10$", "$09$", 1);
    for (hash, password, expect) in [
        ("5f4dcc3b5aa765d61d8327deb882cf99", None, "unsalted MD5"),
        (bcrypt9.as_str(), None, "cost 9"),
        ("pbkdf2_sha256$x$salt$aGFzaA==", None, "iterations"),
        ("plain text", None, "not a known hash format"),
        (
            "pbkdf2_sha256$20000$salt$c2l4dGVlbi1ieXRlcy1sb25nLWhhc2g=",
            Some(PASSWORD),
            "not both",
        ),
    ] {
        let mut attrs = json!({"username": "weak", "email": "weak@example.com", "firstName": "W",
                               "lastName": "K", "passwordHash": hash});
        if let Some(p) = password {
            attrs["password"] = json!(p);
        }
        let r = api
            .post("/api/users", json!({"data": {"type": "users", "attributes": attrs}}))
            .await;
        assert_eq!(r.status, 422, "{hash}: {}", r.text);
        assert!(r.text.contains(expect), "{hash}: {}", r.text);
        assert_eq!(
            r.body["errors"][0]["source"]["pointer"], "/data/attributes/passwordHash",
            "{}",
            r.text
        );
    }
    let mut conn = app.store().conn().await.unwrap();
    assert!(
        muster_store::users::find_by_username(&mut conn, "weak")
            .await
            .unwrap()
            .is_none()
    );
}

/// The CSV import (the Import page) takes foreign hashes; the users sign in and are upgraded.
#[tokio::test(flavor = "multi_thread")]
async fn csv_import_keeps_foreign_hashes_until_the_first_sign_in() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let hashes = reference_hashes(PASSWORD);
    let mut csv = String::from("username,email,first_name,last_name,organizations,roles,password_hash\n");
    for (i, (_, hash)) in hashes.iter().enumerate() {
        csv.push_str(&format!("csv{i},csv{i}@example.com,C,S,Main,User,\"{hash}\"\n"));
    }
    // a weak row is refused with its reason; the others are imported
    csv.push_str("weakling,weakling@example.com,W,K,Main,User,5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8\n");
    let resp = upload(&admin, &csv, false).await;
    let html = resp.text().await.unwrap();
    let rows = rejected_rows(&html);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].1, "password_hash");
    assert!(rows[0].2.contains("unsalted SHA-1"), "{rows:#?}");
    assert!(rows[0].2.contains("--allow-weak-hashes"), "{rows:#?}");
    for (i, (scheme, hash)) in hashes.iter().enumerate() {
        let name = format!("csv{i}");
        assert_eq!(&app.user_by_name(&name).await.password_hash, hash, "{scheme}");
        assert_eq!(login_status(&app, &name, PASSWORD).await.0, 303, "{scheme}");
        let after = app.user_by_name(&name).await;
        assert!(after.password_hash.starts_with("$argon2id$"), "{scheme}");
    }
}

/// Lockout counts wrong passwords on a foreign hash exactly as on Argon2, and a
/// locked user's right password neither signs in nor upgrades the hash.
#[tokio::test(flavor = "multi_thread")]
async fn foreign_hash_users_lock_at_the_limit() {
    let app = TestApp::spawn().await;
    let admin = app.user_by_name("admin").await;
    let api = Api::new(&app, Some(&key_for(&app, admin.id, None).await));
    let hash = reference_hashes(PASSWORD)
        .into_iter()
        .find(|(k, _)| k == "sha512_symfony")
        .unwrap()
        .1;
    let r = api
        .post(
            "/api/users",
            json!({"data": {"type": "users", "attributes": {
                "username": "oro.user", "email": "oro@example.com", "firstName": "O", "lastName": "R",
                "passwordHash": hash}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for _ in 0..12 {
        assert_eq!(login_status(&app, "oro.user", "Not-The-Password-99").await.0, 401);
    }
    let u = app.user_by_name("oro.user").await;
    assert_eq!(u.failed_login_count, 10, "stops exactly at the limit");
    assert_eq!(u.auth_status, AuthStatus::Locked);
    let (status, body) = login_status(&app, "oro.user", PASSWORD).await;
    assert_eq!(status, 401, "locked: refused");
    assert!(body.contains("Invalid username or password."));
    assert_eq!(
        app.user_by_name("oro.user").await.password_hash,
        hash,
        "not upgraded while locked"
    );
    assert_eq!(
        audit_actions(&app, "oro.user")
            .await
            .iter()
            .filter(|a| *a == "user.locked")
            .count(),
        1
    );

    // an unknown user: the same answer, checked against the dummy Argon2 hash
    let (status, unknown_body) = login_status(&app, "nobody-here", PASSWORD).await;
    assert_eq!(status, 401);
    assert!(unknown_body.contains("Invalid username or password."));
    let mut conn = app.store().conn().await.unwrap();
    let attempts = muster_store::login_attempts::list(&mut conn, &Default::default(), 100, 0)
        .await
        .unwrap();
    assert!(
        attempts
            .iter()
            .any(|a| a.username == "nobody-here" && a.reason == "unknown user")
    );
}

fn muster_cli(app: &TestApp) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_muster"));
    c.arg("--data-dir")
        .arg(app.data_dir())
        .arg("--database-url")
        .arg(&app.db.url)
        .env("MUSTER_LOG", "warn");
    c
}

/// `muster import users`: a weak hash rejects its row; with `--allow-weak-hashes`
/// the user is imported without it, in Password reset, with the reset mail.
#[tokio::test(flavor = "multi_thread")]
async fn cli_import_refuses_weak_hashes_unless_allowed() {
    let app = TestApp::spawn().await;
    let file = app.data_dir().join("weak.csv");
    std::fs::write(
        &file,
        "username,email,first_name,last_name,organizations,roles,password_hash\n\
         md5user,md5user@example.com,M,D,Main,User,5f4dcc3b5aa765d61d8327deb882cf99\n\
         good,good@example.com,G,D,Main,User,pbkdf2_sha256$20000$salt$c2l4dGVlbi1ieXRlcy1sb25nLWhhc2g=\n",
    )
    .unwrap();
    let out = muster_cli(&app).args(["import", "users"]).arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("line 2: password_hash: unsalted MD5 is a weak scheme"),
        "{stdout}"
    );
    let mut conn = app.store().conn().await.unwrap();
    assert!(
        muster_store::users::find_by_username(&mut conn, "md5user")
            .await
            .unwrap()
            .is_none()
    );
    drop(conn);

    let out = muster_cli(&app)
        .args(["import", "users", "--allow-weak-hashes"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("1 user(s) with a weak password hash were put in Password reset"),
        "{stdout}"
    );
    let u = app.user_by_name("md5user").await;
    assert_eq!(u.auth_status, AuthStatus::PasswordReset);
    assert!(!u.password_hash.contains("5f4dcc3b"), "a weak hash is never stored");
    let mails = outbox(&app).await;
    assert!(
        mails
            .iter()
            .any(|(to, _, text, _)| to == "md5user@example.com" && text.contains("/reset-password?token=")),
        "{mails:#?}"
    );
    assert_eq!(login_status(&app, "md5user", "password").await.0, 401);
}

/// An Oro export of users, with its own headers and extra columns, imports as
/// muster's CSV (DESIGN.md §5 "Oro CSV aliases").
#[tokio::test(flavor = "multi_thread")]
async fn oro_export_headers_are_read_as_muster_keys() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let csv = "Id,Username,Primary Email,Name Prefix,First Name,Last Name,Enabled,Status,Roles,Organizations,Birthday\n\
               7,jdoe,jdoe@example.com,Dr.,John,Doe,1,Active,User Manager,Main,1980-02-03\n\
               8,asmith,asmith@example.com,,Ann,Smith,0,Locked,User,Main,\n";
    let resp = upload(&admin, csv, false).await;
    let html = resp.text().await.unwrap();
    assert!(rejected_rows(&html).is_empty(), "{html}");
    assert!(
        html.contains("Columns left out (not muster fields): Name Prefix, Birthday"),
        "{html}"
    );
    let j = app.user_by_name("jdoe").await;
    assert_eq!(
        (j.email.as_str(), j.first_name.as_str(), j.last_name.as_str()),
        ("jdoe@example.com", "John", "Doe")
    );
    assert!(j.enabled);
    assert_eq!(j.roles, vec![muster_domain::Role::UserManager]);
    let a = app.user_by_name("asmith").await;
    assert!(!a.enabled);
    assert_eq!(
        a.auth_status,
        AuthStatus::PasswordReset,
        "a new user without a hash must reset, whatever the status says"
    );
    // Oro's status words on an update
    let resp = upload(
        &admin,
        "Username,Status,Enabled
jdoe,Locked,No
",
        false,
    )
    .await;
    assert!(rejected_rows(&resp.text().await.unwrap()).is_empty());
    let j = app.user_by_name("jdoe").await;
    assert_eq!(j.auth_status, AuthStatus::Locked);
    assert!(!j.enabled);

    // muster's own format still refuses an unknown column
    let resp = upload(&admin, "username,Birthday\njdoe,1980-02-03\n", false).await;
    assert!(resp.text().await.unwrap().contains("unknown column"));
}

/// The page of imported hashes counts the users still on each scheme, and
/// **Reset** puts those on one scheme in Password reset with a mail each.
async fn schemes_page_counts_and_resets(app: TestApp) {
    let admin_user = app.user_by_name("admin").await;
    let api = Api::new(&app, Some(&key_for(&app, admin_user.id, None).await));
    let hashes = reference_hashes(PASSWORD);
    let bcrypt = hashes.iter().find(|(k, _)| k == "bcrypt_2y").unwrap().1.clone();
    let django = hashes
        .iter()
        .find(|(k, _)| k == "django_pbkdf2_sha256")
        .unwrap()
        .1
        .clone();
    for (name, hash) in [("b1", &bcrypt), ("b2", &bcrypt), ("b3", &bcrypt), ("d1", &django)] {
        let r = api
            .post(
                "/api/users",
                json!({"data": {"type": "users", "attributes": {
                    "username": name, "email": format!("{name}@example.com"), "firstName": "F",
                    "lastName": "L", "passwordHash": hash}}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    assert_eq!(login_status(&app, "b3", PASSWORD).await.0, 303, "b3 leaves bcrypt");

    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    assert!(
        admin
            .get_text("/admin/settings")
            .await
            .contains("/admin/settings/password-hashes")
    );
    let html = admin.get_text("/admin/settings/password-hashes").await;
    let count = |html: &str, key: &str| -> String {
        let row = &html[html
            .find(&format!("data-scheme=\"{key}\""))
            .unwrap_or_else(|| panic!("{key}: {html}"))..];
        let start = row.find("<td class=\"count\">").unwrap() + "<td class=\"count\">".len();
        row[start..start + row[start..].find('<').unwrap()].to_owned()
    };
    assert_eq!(count(&html, "bcrypt"), "2", "{html}");
    assert_eq!(count(&html, "django_pbkdf2_sha256"), "1");
    assert!(!html.contains("data-scheme=\"sha512_symfony\""), "nobody on it");

    let resp = admin
        .post(
            "/admin/settings/password-hashes",
            "/admin/settings/password-hashes/reset",
            &[("scheme", "bcrypt")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    for name in ["b1", "b2"] {
        assert_eq!(
            app.user_by_name(name).await.auth_status,
            AuthStatus::PasswordReset,
            "{name}"
        );
    }
    assert_eq!(app.user_by_name("b3").await.auth_status, AuthStatus::Active);
    assert_eq!(app.user_by_name("d1").await.auth_status, AuthStatus::Active);
    let mails = outbox(&app).await;
    for name in ["b1", "b2"] {
        assert!(
            mails.iter().any(|(to, _, text, _)| *to == format!("{name}@example.com")
                && text.contains("/reset-password?token=")),
            "{name}: {mails:#?}"
        );
    }
    assert!(
        !mails
            .iter()
            .any(|(to, ..)| to == "d1@example.com" || to == "b3@example.com")
    );

    // a reset on a date: refused in the past, not run before its day, cancellable, run on its day
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let day = |offset: i64| {
        let start = now - now.rem_euclid(86_400_000) + offset * 86_400_000;
        muster_domain::dates::format_bound(start, false)
    };
    let page = "/admin/settings/password-hashes";
    let schedule = |on: String| {
        let admin = &admin;
        async move {
            let resp = admin
                .post(
                    page,
                    "/admin/settings/password-hashes/schedule",
                    &[("scheme", "django_pbkdf2_sha256"), ("reset_on", &on)],
                )
                .await;
            assert_eq!(resp.status(), 303);
            admin.get_text(page).await
        }
    };
    let html = schedule(day(-1)).await;
    assert!(html.contains("is in the past"), "{html}");
    let html = schedule("31/12/2099".to_owned()).await;
    assert!(html.contains("YYYY-MM-DD"), "{html}");
    let html = schedule(day(1)).await;
    assert!(
        html.contains("id=\"scheduled-resets\"") && html.contains(&day(1)),
        "{html}"
    );
    let html = schedule(day(2)).await;
    assert!(html.contains("already scheduled"), "one at a time per scheme: {html}");
    crate::csv_support::run_jobs(&app).await;
    assert_eq!(
        app.user_by_name("d1").await.auth_status,
        AuthStatus::Active,
        "not before its day"
    );
    let job = muster_store::jobs::list(
        &mut app.store().conn().await.unwrap(),
        muster_server::services::foreign_hashes::RESET_KIND,
        1,
    )
    .await
    .unwrap()
    .remove(0);
    assert_eq!(job.status, muster_store::jobs::Status::Queued);
    let resp = admin
        .post(
            page,
            "/admin/settings/password-hashes/cancel",
            &[("job", &job.id.to_string())],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert!(admin.get_text(page).await.contains("cancelled"));
    let html = schedule(day(0)).await;
    assert!(html.contains("Scheduled: on"), "{html}");
    crate::csv_support::run_jobs(&app).await;
    assert_eq!(app.user_by_name("d1").await.auth_status, AuthStatus::PasswordReset);
    assert!(outbox(&app).await.iter().any(|(to, ..)| to == "d1@example.com"));
    let html = admin.get_text(page).await;
    assert!(html.contains("1 reset mail(s) queued"), "{html}");
    assert!(html.contains("<td class=\"status\">done</td>"), "{html}");

    // a User Manager may not see the page, nor schedule
    app.create_user("um", &["User Manager"]).await;
    let um = app.signed_in("um", PASSWORD).await;
    assert_ne!(um.get("/admin/settings/password-hashes").await.status(), 200);
    let resp = um
        .post(
            "/profile",
            "/admin/settings/password-hashes/schedule",
            &[("scheme", "bcrypt"), ("reset_on", &day(0))],
        )
        .await;
    assert_eq!(resp.status(), 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn schemes_page_counts_and_resets_sqlite() {
    schemes_page_counts_and_resets(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn schemes_page_counts_and_resets_postgres() {
    schemes_page_counts_and_resets(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

/// `(salt, hash)` in standard base64 of PBKDF2-HMAC-`digest` of `password`, by Python.
fn python_pbkdf2(digest: &str, password: &str, iterations: u32, len: usize) -> (String, String) {
    let script = r#"
import base64, hashlib, sys
salt = b"\x9a\x10kc-salt-\x00\xff!"
h = hashlib.pbkdf2_hmac(sys.argv[1], sys.argv[2].encode(), salt, int(sys.argv[3]), int(sys.argv[4]))
print(base64.b64encode(salt).decode(), base64.b64encode(h).decode())
"#;
    let out = Command::new("/usr/bin/python3")
        .args([
            "-c",
            script,
            digest,
            password,
            &iterations.to_string(),
            &len.to_string(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let (s, h) = text.trim().split_once(' ').unwrap();
    (s.to_owned(), h.to_owned())
}

/// A credential as Keycloak 12+ writes it: JSON documents in strings.
fn kc_credential(algorithm: &str, iterations: u32, salt: &str, value: &str, extra: Value) -> Value {
    json!({
        "id": "c0ffee00-0000-0000-0000-000000000000",
        "type": "password",
        "userLabel": "My password",
        "createdDate": 1_700_000_000_000_i64,
        "secretData": json!({"value": value, "salt": salt, "additionalParameters": {}}).to_string(),
        "credentialData": json!({"hashIterations": iterations, "algorithm": algorithm,
                                 "additionalParameters": extra}).to_string(),
    })
}

async fn orgs_of(app: &TestApp, id: i64) -> Vec<String> {
    let mut conn = app.store().conn().await.unwrap();
    let ids = muster_store::users::organization_ids(&mut conn, id).await.unwrap();
    let all = muster_store::organizations::list(&mut conn).await.unwrap();
    all.into_iter()
        .filter(|o| ids.contains(&o.id))
        .map(|o| o.name)
        .collect()
}

fn run_cli(app: &TestApp, args: &[&str]) -> (bool, String) {
    let out = muster_cli(app).args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `muster import keycloak`: a realm export written by hand from Keycloak's format, with
/// pbkdf2-sha256, pbkdf2-sha512 and argon2 credentials, realm roles and groups mapped.
#[tokio::test(flavor = "multi_thread")]
async fn keycloak_realm_export_imports_and_signs_in() {
    let app = TestApp::spawn().await;
    app.create_org("Acme Sales").await;
    app.create_org("Support").await;
    let (s256, h256) = python_pbkdf2("sha256", PASSWORD, 27500, 64);
    let (s512, h512) = python_pbkdf2("sha512", PASSWORD, 30000, 64);
    let realm = json!({
        "id": "acme", "realm": "acme", "enabled": true,
        "roles": {"realm": [{"name": "admin"}, {"name": "helpdesk"}, {"name": "default-roles-acme"}]},
        "groups": [{"name": "Sales", "path": "/Sales", "subGroups": []}, {"name": "Support", "path": "/Support"}],
        "users": [
            {"id": "1", "createdTimestamp": 1_600_000_000_000_i64, "username": "kc.admin", "enabled": true,
             "emailVerified": true, "firstName": "Kim", "lastName": "Admin", "email": "kc.admin@example.com",
             "credentials": [kc_credential("pbkdf2-sha256", 27500, &s256, &h256, json!({}))],
             "realmRoles": ["default-roles-acme", "admin"], "groups": ["/Sales"],
             "requiredActions": [], "notBefore": 0},
            {"id": "2", "createdTimestamp": 1_600_000_000_001_i64, "username": "kc.help", "enabled": true,
             "firstName": "Hal", "lastName": "Help", "email": "kc.help@example.com",
             "credentials": [kc_credential("pbkdf2-sha512", 30000, &s512, &h512, json!({}))],
             "realmRoles": ["helpdesk"], "groups": ["/Support"]},
            {"id": "3", "username": "kc.argon", "enabled": true, "firstName": "Ari", "lastName": "Gon",
             "email": "kc.argon@example.com",
             // the argon2 reference implementation's test vector: "password", "somesalt", t=2, m=64 MiB
             "credentials": [kc_credential("argon2", 2, "c29tZXNhbHQ=",
                 "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc=",
                 json!({"hashLength": ["32"], "memory": ["65536"], "type": ["id"], "version": ["1.3"], "parallelism": ["1"]}))],
             "realmRoles": ["default-roles-acme"]},
            {"id": "4", "username": "kc.ldap", "enabled": false, "firstName": "Lee", "lastName": "Dap",
             "email": "kc.ldap@example.com", "federationLink": "ldap-1", "credentials": []}
        ]
    });
    let file = app.data_dir().join("realm-export.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&realm).unwrap()).unwrap();
    let path = file.to_str().unwrap();
    let maps = [
        "--role-map",
        "admin=Administrator,helpdesk=User Manager",
        "--org-map",
        "/Sales=Acme Sales",
    ];

    let (ok, out) = run_cli(&app, &[&["import", "keycloak", path, "--dry-run"][..], &maps].concat());
    assert!(ok, "{out}");
    assert!(out.contains("4 row(s): 4 would be created"), "{out}");
    let mut conn = app.store().conn().await.unwrap();
    assert!(
        muster_store::users::find_by_username(&mut conn, "kc.admin")
            .await
            .unwrap()
            .is_none()
    );
    drop(conn);

    let (ok, out) = run_cli(&app, &[&["import", "keycloak", path][..], &maps].concat());
    assert!(ok, "{out}");
    let admin = app.user_by_name("kc.admin").await;
    assert_eq!(admin.roles, vec![muster_domain::Role::Administrator]);
    assert_eq!(admin.created_at, 1_600_000_000_000);
    let help = app.user_by_name("kc.help").await;
    assert_eq!(help.roles, vec![muster_domain::Role::UserManager]);
    assert_eq!(orgs_of(&app, admin.id).await, ["Acme Sales"], "mapped by --org-map");
    assert_eq!(orgs_of(&app, help.id).await, ["Support"], "by the group's name");
    let ldap = app.user_by_name("kc.ldap").await;
    assert!(!ldap.enabled);
    assert_eq!(ldap.auth_status, AuthStatus::PasswordReset, "no password credential");

    for (name, password) in [("kc.admin", PASSWORD), ("kc.help", PASSWORD), ("kc.argon", "password")] {
        assert_eq!(login_status(&app, name, "Wrong-Password-123456").await.0, 401, "{name}");
        assert_eq!(app.user_by_name(name).await.failed_login_count, 1, "{name}");
        assert_eq!(login_status(&app, name, password).await.0, 303, "{name}");
        let after = app.user_by_name(name).await;
        assert!(
            after.password_hash.starts_with("$argon2id$v=19$m=19456"),
            "{name}: {}",
            after.password_hash
        );
    }

    // a broken file: the place is named and nothing is imported
    let mut broken = realm.clone();
    broken["users"][0]["username"] = json!("kc.new");
    broken["users"][1]["credentials"][0]["secretData"] = json!("{\"value\": ");
    std::fs::write(&file, serde_json::to_vec(&broken).unwrap()).unwrap();
    let (ok, out) = run_cli(&app, &["import", "keycloak", path]);
    assert!(!ok);
    assert!(out.contains("users[1].credentials[0].secretData"), "{out}");
    let mut conn = app.store().conn().await.unwrap();
    assert!(
        muster_store::users::find_by_username(&mut conn, "kc.new")
            .await
            .unwrap()
            .is_none()
    );
}

/// `muster import django`: a `dumpdata auth.user` file with hashes made by Python.
#[tokio::test(flavor = "multi_thread")]
async fn django_dumpdata_imports_and_signs_in() {
    let app = TestApp::spawn().await;
    app.create_org("Editors").await;
    let hashes = reference_hashes(PASSWORD);
    let get = |k: &str| hashes.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let dump = json!([
        {"model": "auth.user", "pk": 1, "fields": {
            "password": get("django_pbkdf2_sha256"), "last_login": "2024-05-06T07:08:09.123Z",
            "is_superuser": true, "username": "dj.root", "first_name": "", "last_name": "",
            "email": "dj.root@example.com", "is_staff": true, "is_active": true,
            "date_joined": "2020-01-02T03:04:05Z", "groups": [], "user_permissions": []}},
        {"model": "auth.user", "pk": 2, "fields": {
            "password": get("django_bcrypt_sha256"), "last_login": null, "is_superuser": false,
            "username": "dj.editor", "first_name": "Eddie", "last_name": "Tor", "email": "eddie@example.com",
            "is_staff": true, "is_active": true, "date_joined": "2021-03-04T05:06:07", "groups": [["Editors"]],
            "user_permissions": []}},
        {"model": "auth.user", "pk": 3, "fields": {
            "password": "sha1$salt$5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", "last_login": null,
            "is_superuser": false, "username": "dj.legacy", "first_name": "Leg", "last_name": "Acy",
            "email": "legacy@example.com", "is_staff": false, "is_active": false,
            "date_joined": "2010-01-01T00:00:00Z", "groups": [], "user_permissions": []}}
    ]);
    let file = app.data_dir().join("users.json");
    std::fs::write(&file, serde_json::to_vec(&dump).unwrap()).unwrap();
    let path = file.to_str().unwrap();

    // the weak sha1 hash rejects its user; the others are imported
    let (ok, out) = run_cli(
        &app,
        &[
            "import",
            "django",
            path,
            "--role-map",
            "staff=User",
            "--org-map",
            "Editors=Editors",
        ],
    );
    assert!(!ok, "{out}");
    assert!(out.contains("salted SHA-1 is a weak scheme"), "{out}");
    let root = app.user_by_name("dj.root").await;
    assert_eq!(root.roles, vec![muster_domain::Role::Administrator]);
    assert_eq!(
        (root.first_name.as_str(), root.last_name.as_str()),
        ("dj.root", "dj.root")
    );
    assert_eq!(muster_server::clock::rfc3339(root.created_at), "2020-01-02T03:04:05Z");
    assert_eq!(
        root.last_login_at.map(muster_server::clock::rfc3339).as_deref(),
        Some("2024-05-06T07:08:09.123Z")
    );
    let editor = app.user_by_name("dj.editor").await;
    assert_eq!(
        editor.roles,
        vec![muster_domain::Role::User],
        "staff mapped by --role-map"
    );
    assert_eq!(
        orgs_of(&app, editor.id).await,
        ["Editors"],
        "group name mapped by --org-map"
    );
    assert_eq!(orgs_of(&app, root.id).await, ["Main"], "no group: Main");

    for name in ["dj.root", "dj.editor"] {
        assert_eq!(login_status(&app, name, "Wrong-Password-123456").await.0, 401);
        assert_eq!(login_status(&app, name, PASSWORD).await.0, 303, "{name}");
        assert!(app.user_by_name(name).await.password_hash.starts_with("$argon2id$"));
    }

    let (ok, out) = run_cli(&app, &["import", "django", path, "--allow-weak-hashes"]);
    assert!(ok, "{out}");
    let legacy = app.user_by_name("dj.legacy").await;
    assert!(!legacy.enabled);
    assert_eq!(legacy.auth_status, AuthStatus::PasswordReset);

    let (ok, out) = run_cli(&app, &["import", "django", path, "--role-map", "staff=Root"]);
    assert!(!ok);
    assert!(out.contains("is not a role"), "{out}");
}

/// Median time of three wrong-password sign-ins as `username`.
async fn failure_time(app: &TestApp, username: &str) -> std::time::Duration {
    let mut times = Vec::new();
    for _ in 0..3 {
        let started = std::time::Instant::now();
        assert_eq!(login_status(app, username, "Not-The-Password-99").await.0, 401);
        times.push(started.elapsed());
    }
    times.sort();
    times[1]
}

/// A user still on a slow imported hash (Django's PBKDF2 at 1,000,000
/// iterations, about half a second) must not be told from a name nobody has by how
/// long a wrong password takes: without the failure floor the unknown name
/// answers after the Argon2 dummy alone, a tenth of that or less. The bound
/// is loose on purpose (half), so a busy machine does not make it flaky.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_users_fail_as_slowly_as_users_on_a_slow_imported_hash() {
    let app = TestApp::spawn().await;
    let admin = app.user_by_name("admin").await;
    let api = Api::new(&app, Some(&key_for(&app, admin.id, None).await));
    let iterations = 1_000_000;
    let script = "import base64, hashlib, sys\n\
        print(base64.b64encode(hashlib.pbkdf2_hmac('sha256', sys.argv[1].encode(), b'SlowSalt1000k', int(sys.argv[2]))).decode())";
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script, PASSWORD, &iterations.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let digest = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let hash = format!("pbkdf2_sha256${iterations}$SlowSalt1000k${digest}");
    let r = api
        .post(
            "/api/users",
            json!({"data": {"type": "users", "attributes": {
                "username": "slow.django", "email": "slow@example.com", "firstName": "S", "lastName": "D",
                "passwordHash": hash}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let known = failure_time(&app, "slow.django").await;
    let unknown = failure_time(&app, "nobody-at-all").await;
    assert!(
        unknown * 2 >= known,
        "an unknown name fails in {unknown:?}, a user on the imported hash in {known:?}"
    );
    // the floor holds for an Argon2 user's wrong password too, so all three look alike
    let argon = failure_time(&app, "admin").await;
    assert!(
        argon * 2 >= known,
        "admin fails in {argon:?}, the imported user in {known:?}"
    );
    // and the right password still signs in (and upgrades the hash)
    assert_eq!(login_status(&app, "slow.django", PASSWORD).await.0, 303);
    assert!(
        app.user_by_name("slow.django")
            .await
            .password_hash
            .starts_with("$argon2id$")
    );
}

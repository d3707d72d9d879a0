//! The edges of issue 18, each through HTTP: redirect targets after sign-in,
//! the per-address pause of failed web sign-ins, the API-key limiter that
//! counts only failures, CSRF only in the body or a header, and Suggest
//! Password only for a signed-in user (or a valid reset link).

use crate::api_client::{Api, key_for};
use crate::support::webdriver::Browser;
use crate::support::{ADMIN_PASSWORD, PASSWORD, TestApp, location};

/// `next` values that must never lead off-site, nor to a 500.
const HOSTILE_NEXT: &[&str] = &[
    "/\t/evil.example/x",
    "/\n/evil.example/x",
    "/\r/evil.example/x",
    "/\u{b}/evil.example/x",
    "/\u{c}/evil.example/x",
    "/\0/evil.example/x",
    "/admin\r\nSet-Cookie: x=1",
    "/\\evil.example",
    "\\\\evil.example",
    "//evil.example",
    "///evil.example",
    "/%09/evil.example/x",
    "/%0a/evil.example/x",
    "/%0D%0ASet-Cookie:%20x=1",
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "/%5C%5Cevil.example",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
];

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_never_redirects_off_site_nor_fails_on_a_hostile_next() {
    let app = TestApp::spawn().await;
    for next in HOSTILE_NEXT {
        let c = app.client();
        let r = c
            .post(
                "/login",
                "/login",
                &[("username", "admin"), ("password", ADMIN_PASSWORD), ("next", next)],
            )
            .await;
        assert_eq!(r.status(), 303, "{next:?}");
        assert_eq!(location(&r), "/admin", "{next:?}: the local default");

        // signed in, the sign-in page sends a hostile `next` to the home page
        let q = serde_urlencoded::to_string([("next", next)]).unwrap();
        let r = c.get(&format!("/login?{q}")).await;
        assert_eq!(r.status(), 303, "{next:?}");
        assert_eq!(location(&r), "/", "{next:?}");

        // anonymous, the form does not carry it
        let anon = app.client();
        let r = anon.get(&format!("/login?{q}")).await;
        assert_eq!(r.status(), 200, "{next:?}");
        let html = r.text().await.unwrap();
        assert!(!html.contains("evil.example"), "{next:?}");
    }

    // a local target still works, normalized
    let c = app.client();
    let r = c
        .post(
            "/login",
            "/login",
            &[
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("next", "/admin/users?view=all"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/admin/users?view=all");
}

async fn put_setting(app: &TestApp, key: &str, value: &str) {
    let mut c = app.store().conn().await.unwrap();
    muster_store::settings::put(&mut c, key, value, 0).await.unwrap();
}

async fn attempts_count(app: &TestApp) -> usize {
    let mut c = app.store().conn().await.unwrap();
    muster_store::login_attempts::list(&mut c, &Default::default(), 1000, 0)
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_web_sign_ins_pause_the_address_without_checking_or_counting() {
    let defaults = muster_server::settings::Settings::defaults();
    assert_eq!(defaults.get("login_failures_per_address"), 30);
    assert_eq!(defaults.get("login_failure_window_minutes"), 15);

    let app = TestApp::spawn().await;
    let u = app.create_user("jdoe", &["User"]).await;
    put_setting(&app, "login_failures_per_address", "3").await;
    let c = app.client();
    for _ in 0..3 {
        assert_eq!(c.login("jdoe", "wrong password").await.status(), 401);
    }
    assert_eq!(app.user(u.id).await.failed_login_count, 3);
    assert_eq!(attempts_count(&app).await, 3);

    // paused: even the right password is not checked, and nothing is counted or recorded
    let r = c.login("jdoe", PASSWORD).await;
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=15 * 60).contains(&wait), "{wait}");
    assert!(r.text().await.unwrap().contains("Too many failed sign-ins"));
    for (user, password) in [("jdoe", "wrong password"), ("admin", ADMIN_PASSWORD), ("nobody", "x")] {
        assert_eq!(c.login(user, password).await.status(), 429, "{user}: per address");
    }
    let after = app.user(u.id).await;
    assert_eq!(
        after.failed_login_count, 3,
        "a paused attempt does not count towards the lockout"
    );
    assert_eq!(after.login_count, 0);
    assert_eq!(attempts_count(&app).await, 3, "paused attempts add no rows");

    // the window slides: once the failures are older than 15 minutes, sign-in works again
    {
        let mut conn = app.store().conn().await.unwrap();
        sqlx::query("UPDATE login_attempts SET at = at - $1")
            .bind(15 * 60_000_i64)
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let r = c.login("jdoe", PASSWORD).await;
    assert_eq!(r.status(), 303);

    // 0 turns the pause off
    put_setting(&app, "login_failures_per_address", "0").await;
    let other = app.client();
    for _ in 0..5 {
        assert_eq!(other.login("admin", "wrong password").await.status(), 401);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_key_limiter_counts_only_failures_and_answers_valid_keys() {
    let app = TestApp::spawn().await;
    put_setting(&app, "api_key_failures_per_minute", "2").await;
    let admin = app.user_by_name("admin").await;
    let good = Api::new(&app, Some(&key_for(&app, admin.id, None).await));
    let bad = Api::new(&app, Some("mk_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"));
    // successes take nothing from the budget
    for _ in 0..5 {
        assert_eq!(good.get("/api/userprofile").await.status, 200);
    }
    for _ in 0..2 {
        assert_eq!(bad.get("/api/userprofile").await.status, 401);
    }
    let r = bad.get("/api/userprofile").await;
    assert_eq!(r.status, 429);
    assert!(r.headers.get("retry-after").is_some());
    // the address is out of budget, yet a valid key is answered, every time
    for _ in 0..3 {
        let r = good.get("/api/userprofile").await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["data"]["attributes"]["username"], "admin");
        assert_eq!(bad.get("/api/userprofile").await.status, 429);
    }
    // blocked failures are neither recorded nor counted again
    let mut c = app.store().conn().await.unwrap();
    let f = muster_store::login_attempts::Filter {
        source: Some("api".into()),
        ..Default::default()
    };
    let rows = muster_store::login_attempts::list(&mut c, &f, 100, 0).await.unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
}

fn multipart(boundary: &str, fields: &[(&str, &str)]) -> String {
    let mut body = String::new();
    for (name, value) in fields {
        let file = if *name == "file" {
            "; filename=\"users.csv\""
        } else {
            ""
        };
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn csrf_is_taken_from_the_body_or_header_never_the_query_string() {
    let app = TestApp::spawn().await;
    let c = app.signed_in("admin", ADMIN_PASSWORD).await;
    let token = c.csrf("/profile").await;

    // a form post with the token only in the URL
    let r = c.post_raw(&format!("/logout?csrf={token}"), &[]).await;
    assert_eq!(r.status(), 403, "token in the query string");
    assert_eq!(c.get("/admin/users").await.status(), 200, "still signed in");

    // the import (multipart) with the token only in the URL: refused, nothing imported
    let csv = "username,email,first_name,last_name,organizations,roles\nqueryuser,q@example.com,Q,U,Main,User";
    let r = c
        .http
        .post(app.url(&format!("/admin/import?csrf={token}")))
        .header("content-type", "multipart/form-data; boundary=b0")
        .body(multipart("b0", &[("file", csv)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "multipart with the token in the query string");

    // a wrong token in the body, a right one in the URL: refused
    let r = c
        .http
        .post(app.url(&format!("/admin/import?csrf={token}")))
        .header("content-type", "multipart/form-data; boundary=b1")
        .body(multipart(
            "b1",
            &[("csrf", "forged-token-forged-token-forged-xx"), ("file", csv)],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let mut conn = app.store().conn().await.unwrap();
    assert!(
        muster_store::users::find_by_username(&mut conn, "queryuser")
            .await
            .unwrap()
            .is_none()
    );
    drop(conn);

    // the import page's form carries the token as its first field, not in its URL
    let html = c.get_text("/admin/import").await;
    let form = &html[html
        .find("<form method=\"post\" action=\"/admin/import\"")
        .expect("plain action")..];
    let first_input = &form[form.find("<input").unwrap()..];
    assert!(
        first_input.starts_with(&format!("<input type=\"hidden\" name=\"csrf\" value=\"{token}\">")),
        "{}",
        &first_input[..80]
    );
    assert!(!html.contains("?csrf="));

    // as the form sends it: the token in the body; the import runs
    let r = c
        .http
        .post(app.url("/admin/import"))
        .header("content-type", "multipart/form-data; boundary=b2")
        .body(multipart("b2", &[("csrf", &token), ("file", csv)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let mut conn = app.store().conn().await.unwrap();
    assert!(
        muster_store::users::find_by_username(&mut conn, "queryuser")
            .await
            .unwrap()
            .is_some()
    );
    drop(conn);

    // the header still works
    let r = c
        .http
        .post(app.url("/logout"))
        .header("x-csrf-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

#[tokio::test(flavor = "multi_thread")]
async fn password_suggestion_only_signed_in_or_with_a_live_reset_link() {
    let app = TestApp::spawn().await;
    app.create_user("jdoe", &["User"]).await;
    let anon = app.client();
    let suggest = |token: Option<&str>| {
        let mut req = anon.http.get(app.url("/password-suggestion"));
        if let Some(t) = token {
            req = req.header("x-reset-token", t);
        }
        req.send()
    };
    let r = suggest(None).await.unwrap();
    assert_eq!(r.status(), 401, "anonymous");
    assert!(!r.text().await.unwrap().contains("\"password\""));
    assert_eq!(suggest(Some("not-a-reset-token")).await.unwrap().status(), 401);
    assert_eq!(suggest(Some("")).await.unwrap().status(), 401);
    let q = anon.get("/password-suggestion?token=whatever").await;
    assert_eq!(q.status(), 401, "never from the query string");

    // signed in: a suggestion
    let c = app.signed_in("jdoe", PASSWORD).await;
    let r = c.get("/password-suggestion").await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["password"].as_str().unwrap().len() >= 16);

    // the reset page: its Suggest Password sends the link's token, which must be live
    let token = forgot_password_token(&app, "jdoe").await;
    let page = anon.get_text(&format!("/reset-password?token={token}")).await;
    assert!(page.contains("name=\"token\"") && page.contains("data-suggest-password"));
    let r = suggest(Some(&token)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let v: serde_json::Value = r.json().await.unwrap();
    let new_password = v["password"].as_str().unwrap().to_owned();

    // once the link is used, it proves nothing any more
    let r = anon
        .post(
            &format!("/reset-password?token={token}"),
            "/reset-password",
            &[("token", &token), ("password", &new_password)],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(suggest(Some(&token)).await.unwrap().status(), 401);
}

async fn forgot_password_token(app: &TestApp, login: &str) -> String {
    let c = app.client();
    c.post("/forgot-password", "/forgot-password", &[("login", login)])
        .await;
    let mut conn = app.store().conn().await.unwrap();
    let mails = muster_store::outbox::list(&mut conn, &[], 100).await.unwrap();
    let link = mails
        .iter()
        .find_map(|m| crate::mailbox::reset_link(m.text_body.as_deref().unwrap_or("")))
        .expect("a reset link");
    link[link.find("token=").unwrap() + "token=".len()..].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn suggest_password_works_on_the_reset_page_in_a_browser() {
    let app = TestApp::spawn().await;
    app.create_user("jdoe", &["User"]).await;
    let token = forgot_password_token(&app, "jdoe").await;
    let b = Browser::start().await;
    b.goto(&app.url(&format!("/reset-password?token={token}"))).await;
    b.click("#suggest-password").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut suggested = String::new();
    while suggested.is_empty() {
        suggested = b.attr("#new-password", "value").await.unwrap_or_default();
        assert!(std::time::Instant::now() < deadline, "no suggestion filled in");
    }
    b.click("#set-password").await;
    b.wait_flash("the new password is set", |t| t.contains("new password is set"))
        .await;
    assert_eq!(app.client().login("jdoe", &suggested).await.status(), 303);
}

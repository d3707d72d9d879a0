//! The second factor over HTTP, on SQLite and PostgreSQL: enrolment on the
//! profile, the code step of a sign-in (wrong code, replay, recovery codes),
//! lockout through wrong codes, enrolment required by the role before any
//! page, the administrator's reset (allowed and refused), and a password reset
//! that does not skip the factor. Codes are computed here from the secret the
//! enrolment page shows, with an HMAC-SHA-1 written out in the test (not the
//! server's TOTP code).

use muster_domain::AuthStatus;
use muster_store::{login_attempts, outbox};
use sha1::{Digest, Sha1};

use crate::mailbox::{reset_link, start_worker, to, wait_spool};
use crate::support::{ADMIN_PASSWORD, Client, PASSWORD, TestApp, TestDb, location};

const NEW_PASSWORD: &str = "Quartz-Meadow-Lantern-731";

fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base32 character") as u64;
        bits = (bits << 5) | v;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

fn hmac_sha1(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).chain(msg.iter().copied()).collect();
    let inner_hash = Sha1::digest(&inner);
    let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).chain(inner_hash.iter().copied()).collect();
    Sha1::digest(&outer).to_vec()
}

/// The RFC 6238 code of `secret` (base32) for unix time `at`.
pub fn code_at(secret: &str, at: i64) -> String {
    let mac = hmac_sha1(&base32_decode(secret), &((at / 30) as u64).to_be_bytes());
    let off = (mac[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([mac[off] & 0x7f, mac[off + 1], mac[off + 2], mac[off + 3]]);
    format!("{:06}", bin % 1_000_000)
}

pub fn now_secs() -> i64 {
    muster_server::clock::now() / 1000
}

/// A six-digit code that is none of the codes the server accepts now.
fn wrong_code(secret: &str) -> String {
    let t = now_secs();
    let valid: Vec<String> = (-2..=2).map(|d| code_at(secret, t + d * 30)).collect();
    (0..)
        .map(|i| format!("{:06}", 123_456 + i))
        .find(|c| !valid.contains(c))
        .unwrap()
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let s = html.find(start).unwrap_or_else(|| panic!("{start} not in page")) + start.len();
    let e = html[s..].find(end).unwrap() + s;
    &html[s..e]
}

fn recovery_codes(html: &str) -> Vec<String> {
    let list = between(html, "id=\"recovery-codes\">", "</ol>");
    list.split("<code>")
        .skip(1)
        .map(|c| c.split("</code>").next().unwrap().to_owned())
        .collect()
}

/// Enrol the signed-in `client` on /profile; returns the secret and the recovery codes.
async fn enrol_on_profile(client: &Client) -> (String, Vec<String>) {
    let page = client.get_text("/profile/two-factor").await;
    assert!(page.contains("src=\"data:image/svg+xml;base64,"), "a QR code");
    let secret = between(&page, "id=\"totp-secret\">", "<").to_owned();
    let resp = client
        .post(
            "/profile/two-factor",
            "/profile/two-factor",
            &[("code", &code_at(&secret, now_secs()))],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let codes = recovery_codes(&resp.text().await.unwrap());
    (secret, codes)
}

async fn set_setting(app: &TestApp, key: &str, value: &str) {
    let mut conn = app.store().conn().await.unwrap();
    muster_store::settings::put(&mut conn, key, value, 0).await.unwrap();
}

/// This test signs in more often than once per 30-second step: forget the
/// last accepted step (the replay check is tested on its own).
async fn forget_last_step(app: &TestApp, user_id: i64) {
    let mut conn = app.store().conn().await.unwrap();
    sqlx::query("UPDATE second_factors SET last_step = 0 WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .unwrap();
}

async fn attempts_of(app: &TestApp, user_id: i64) -> Vec<login_attempts::Attempt> {
    let mut conn = app.store().conn().await.unwrap();
    let f = login_attempts::Filter {
        user_id: Some(user_id),
        ..Default::default()
    };
    login_attempts::list(&mut conn, &f, 100, 0).await.unwrap()
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    let mut conn = app.store().conn().await.unwrap();
    muster_store::audit::list(&mut conn, &Default::default(), 200, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

/// Password, then `code`: the response to the code.
async fn sign_in_with_code(app: &TestApp, username: &str, password: &str, code: &str) -> (Client, reqwest::Response) {
    let c = app.client();
    let resp = c.login(username, password).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login/code");
    let resp = c.post("/login/code", "/login/code", &[("code", code)]).await;
    (c, resp)
}

#[tokio::test]
async fn enrol_sign_in_replay_and_recovery_codes_sqlite() {
    enrol_story(TestApp::spawn().await).await;
}

#[tokio::test]
async fn enrol_sign_in_replay_and_recovery_codes_postgres() {
    enrol_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

async fn enrol_story(app: TestApp) {
    let u = app.create_user("jdoe", &["User"]).await;
    // optional by default: the password alone still signs in
    let me = app.signed_in("jdoe", PASSWORD).await;
    let profile = me.get_text("/profile").await;
    assert!(profile.contains("Set up two-factor sign-in"), "{profile}");

    // a wrong first code is refused and shows the same secret again
    let page = me.get_text("/profile/two-factor").await;
    let secret = between(&page, "id=\"totp-secret\">", "<").to_owned();
    let resp = me
        .post(
            "/profile/two-factor",
            "/profile/two-factor",
            &[("code", &wrong_code(&secret))],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let body = resp.text().await.unwrap();
    assert!(body.contains("Invalid code"), "{body}");
    assert!(body.contains(&secret), "the same secret");
    let enrol_step = now_secs();
    let resp = me
        .post(
            "/profile/two-factor",
            "/profile/two-factor",
            &[("code", &code_at(&secret, enrol_step))],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let codes = recovery_codes(&resp.text().await.unwrap());
    assert_eq!(codes.len(), 10);
    assert!(me.get_text("/profile").await.contains("Recovery codes left: 10"));
    assert!(
        audit_actions(&app)
            .await
            .contains(&"user.second_factor_enrolled".to_owned())
    );
    {
        // stored: the codes only as hashes
        let mut conn = app.store().conn().await.unwrap();
        let stored: Vec<String> = sqlx::query_scalar("SELECT code_hash FROM recovery_codes WHERE user_id = $1")
            .bind(u.id)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        assert_eq!(stored.len(), 10);
        assert!(
            codes
                .iter()
                .all(|c| !stored.iter().any(|s| s.contains(&c.replace('-', ""))))
        );
    }

    // the password alone no longer gives a session
    let c = app.client();
    let resp = c.login("jdoe", PASSWORD).await;
    assert_eq!(location(&resp), "/login/code");
    assert!(
        !resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("muster_session=")),
        "no session before the code"
    );
    assert_eq!(c.get("/profile").await.status(), 303);
    // a wrong code counts like a wrong password
    let resp = c
        .post("/login/code", "/login/code", &[("code", &wrong_code(&secret))])
        .await;
    assert_eq!(resp.status(), 401);
    assert!(resp.text().await.unwrap().contains("Invalid code."));
    assert_eq!(app.user(u.id).await.failed_login_count, 1);
    // the code of the step used at enrolment is refused: no replay
    let resp = c
        .post("/login/code", "/login/code", &[("code", &code_at(&secret, enrol_step))])
        .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(app.user(u.id).await.failed_login_count, 2);
    // the next step's code signs in, and the sign-in is recorded then
    let next_code = code_at(&secret, enrol_step + 30);
    let resp = c.post("/login/code", "/login/code", &[("code", &next_code)]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/profile");
    assert_eq!(c.get("/profile").await.status(), 200);
    let after = app.user(u.id).await;
    assert_eq!(after.failed_login_count, 0);
    let attempts = attempts_of(&app, u.id).await;
    assert!(attempts[0].success && attempts[0].step == "second_factor");
    assert!(
        attempts
            .iter()
            .any(|a| !a.success && a.step == "second_factor" && a.reason == "code already used (2)")
    );
    // the same code again, on a new sign-in: refused
    let (_, resp) = sign_in_with_code(&app, "jdoe", PASSWORD, &next_code).await;
    assert_eq!(resp.status(), 401);

    // a recovery code works once
    let (c1, resp) = sign_in_with_code(&app, "jdoe", PASSWORD, &codes[0]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(c1.get("/profile").await.status(), 200);
    let (_, resp) = sign_in_with_code(&app, "jdoe", PASSWORD, &codes[0]).await;
    assert_eq!(resp.status(), 401, "a used recovery code");
    // typed in capitals without dashes: still a code
    let typed = codes[1].replace('-', " ").to_uppercase();
    let (c2, resp) = sign_in_with_code(&app, "jdoe", PASSWORD, &typed).await;
    assert_eq!(resp.status(), 303);
    assert!(c2.get_text("/profile").await.contains("Recovery codes left: 8"));

    // the login-attempt page names the step that failed
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let page = admin.get_text("/admin/login-attempts?user=jdoe").await;
    assert!(page.contains("Second factor") && page.contains("Password"), "{page}");
    // the user page shows the factor
    let page = admin.get_text(&format!("/admin/users/{}", u.id)).await;
    assert!(page.contains("id=\"info-two-factor\">On<"), "{page}");
    // cancelling a pending sign-in ends it
    let c3 = app.client();
    c3.login("jdoe", PASSWORD).await;
    assert_eq!(c3.post("/login/code", "/login/cancel", &[]).await.status(), 303);
    assert_eq!(location(&c3.get("/login/code").await), "/login");
}

#[tokio::test]
async fn wrong_codes_lock_the_account_sqlite() {
    lockout_story(TestApp::spawn().await).await;
}

#[tokio::test]
async fn wrong_codes_lock_the_account_postgres() {
    lockout_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

async fn lockout_story(app: TestApp) {
    set_setting(&app, "failed_login_limit", "3").await;
    let u = app.create_user("jdoe", &["User"]).await;
    let me = app.signed_in("jdoe", PASSWORD).await;
    let (secret, _) = enrol_on_profile(&me).await;
    let bad = wrong_code(&secret);

    let (c, resp) = sign_in_with_code(&app, "jdoe", PASSWORD, &bad).await;
    assert_eq!(resp.status(), 401);
    let resp = c.post("/login/code", "/login/code", &[("code", &bad)]).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(app.user(u.id).await.failed_login_count, 2);
    // the right password again does not clear what wrong codes counted
    let (_, resp) = sign_in_with_code(&app, "jdoe", PASSWORD, &bad).await;
    assert_eq!(resp.status(), 303, "the pending sign-in ends with the lock");
    assert_eq!(location(&resp), "/login");
    let after = app.user(u.id).await;
    assert_eq!(after.failed_login_count, 3);
    assert_eq!(after.auth_status, AuthStatus::Locked);
    assert_eq!(app.client().login("jdoe", PASSWORD).await.status(), 401, "locked");
    assert_eq!(
        audit_actions(&app).await.iter().filter(|a| *a == "user.locked").count(),
        1
    );
    let attempts = attempts_of(&app, u.id).await;
    assert!(
        attempts
            .iter()
            .any(|a| a.step == "second_factor" && a.reason == "wrong code (3); account locked"),
        "{attempts:?}"
    );
    let mut conn = app.store().conn().await.unwrap();
    let mails = outbox::list(&mut conn, &[], 100).await.unwrap();
    assert!(
        mails
            .iter()
            .any(|m| m.to_addr == "jdoe@example.com" && m.subject.contains("locked"))
    );
}

#[tokio::test]
async fn a_required_factor_is_enrolled_before_any_page_sqlite() {
    required_story(TestApp::spawn().await).await;
}

#[tokio::test]
async fn a_required_factor_is_enrolled_before_any_page_postgres() {
    required_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

async fn required_story(app: TestApp) {
    set_setting(&app, "second_factor_user_manager", "2").await;
    let um = app.create_user("manager", &["User Manager"]).await;
    let plain = app.create_user("jdoe", &["User"]).await;
    // a role that does not require it: the password alone
    assert_eq!(
        app.signed_in("jdoe", PASSWORD).await.get("/profile").await.status(),
        200
    );

    let c = app.client();
    let resp = c.login("manager", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login/enrol");
    for page in ["/profile", "/admin/users", &format!("/admin/users/{}", plain.id)] {
        let resp = c.get(page).await;
        assert_eq!(resp.status(), 303, "{page}");
        assert!(location(&resp).starts_with("/login"), "{page}");
    }
    let resp = c
        .post("/login/enrol", &format!("/admin/users/{}/disable", plain.id), &[])
        .await;
    assert_eq!(resp.status(), 303);
    assert!(app.user(plain.id).await.enabled, "no action before enrolment");
    // the code step is not reachable either: it sends back to enrolment
    assert_eq!(location(&c.get("/login/code").await), "/login/enrol");

    let page = c.get_text("/login/enrol").await;
    assert!(page.contains("Your role requires two-factor sign-in"), "{page}");
    let secret = between(&page, "id=\"totp-secret\">", "<").to_owned();
    let resp = c
        .post("/login/enrol", "/login/enrol", &[("code", &wrong_code(&secret))])
        .await;
    assert_eq!(resp.status(), 422);
    assert_eq!(c.get("/profile").await.status(), 303, "still no session");
    let resp = c
        .post(
            "/login/enrol",
            "/login/enrol",
            &[("code", &code_at(&secret, now_secs()))],
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("muster_session=")),
        "the session starts with the recovery codes"
    );
    assert_eq!(recovery_codes(&resp.text().await.unwrap()).len(), 10);
    assert_eq!(c.get("/admin/users").await.status(), 200);
    assert!(c.get_text("/profile").await.contains("Recovery codes left: 10"));
    assert_eq!(app.user(um.id).await.login_count, 1);
    // next time: the code
    let resp = app.client().login("manager", PASSWORD).await;
    assert_eq!(location(&resp), "/login/code");
}

#[tokio::test]
async fn reset_two_factor_allowed_and_refused_sqlite() {
    reset_story(TestApp::spawn().await).await;
}

#[tokio::test]
async fn reset_two_factor_allowed_and_refused_postgres() {
    reset_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

async fn reset_story(app: TestApp) {
    let boss = app.create_user("boss", &["Administrator"]).await;
    let um = app.create_user("manager", &["User Manager"]).await;
    let jdoe = app.create_user("jdoe", &["User"]).await;
    let other = app.create_user("other", &["User"]).await;
    let (boss_secret, _) = enrol_on_profile(&app.signed_in("boss", PASSWORD).await).await;
    let (_, _) = enrol_on_profile(&app.signed_in("jdoe", PASSWORD).await).await;
    let (_, _) = enrol_on_profile(&app.signed_in("manager", PASSWORD).await).await;
    // the grid's column and filter
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let row = |name: &str| format!("data-username=\"{name}\"");
    let grid = admin.get_text("/admin/users?view=all&two_factor=yes").await;
    assert!(grid.contains(&row("boss")) && grid.contains(&row("jdoe")) && grid.contains(&row("manager")));
    assert!(!grid.contains(&row("other")) && !grid.contains(&row("admin")), "{grid}");
    let grid = admin.get_text("/admin/users?view=all&two_factor=no").await;
    assert!(grid.contains(&row("other")) && grid.contains(&row("admin")) && !grid.contains(&row("boss")));
    assert!(grid.contains("<option value=\"no\" selected>Off</option>"));
    let grid = admin.get_text("/admin/users?view=all").await;
    assert!(grid.contains("<td class=\"two_factor\">On</td>") && grid.contains("<td class=\"two_factor\">Off</td>"));
    // the API speaks the same filter
    let own = app.user_by_name("admin").await;
    let api = crate::api_client::Api::new(&app, Some(&crate::api_client::key_for(&app, own.id, None).await));
    let names = |r: &crate::api_client::Reply| -> Vec<String> {
        let mut v: Vec<String> = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["attributes"]["username"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    let r = api.get("/api/users?filter[view]=all&filter[twoFactor]=true").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(names(&r), ["boss", "jdoe", "manager"]);
    let r = api.get("/api/users?filter[view]=all&filter[twoFactor]=false").await;
    assert_eq!(names(&r), ["admin", "other"]);
    let r = api.get("/api/users?filter[twoFactor]=maybe").await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("filter[twoFactor]"), "{}", r.text);

    forget_last_step(&app, um.id).await;
    let (manager, resp) = sign_in_with_code(&app, "manager", PASSWORD, &code_at(&boss_secret, 0)).await;
    assert_eq!(resp.status(), 401, "another user's code is no code");
    let secret_of = |id: i64| {
        let store = app.store().clone();
        async move {
            let mut conn = store.conn().await.unwrap();
            muster_store::second_factor::totp(&mut conn, id)
                .await
                .unwrap()
                .unwrap()
                .secret
        }
    };
    let resp = manager
        .post(
            "/login/code",
            "/login/code",
            &[("code", &code_at(&secret_of(um.id).await, now_secs()))],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let has = |id: i64| {
        let store = app.store().clone();
        async move {
            let mut conn = store.conn().await.unwrap();
            muster_store::second_factor::has_factor(&mut conn, id).await.unwrap()
        }
    };

    // a User Manager on an Administrator: refused, the factor stays
    let path = format!("/admin/users/{}/two-factor/reset", boss.id);
    assert_eq!(manager.get(&path).await.status(), 403);
    assert_eq!(manager.post("/profile", &path, &[]).await.status(), 403);
    assert!(has(boss.id).await);
    assert!(
        !manager
            .get_text(&format!("/admin/users/{}", boss.id))
            .await
            .contains("id=\"reset-two-factor\"")
    );
    // a User: refused
    let plain = app.signed_in("other", PASSWORD).await;
    assert_eq!(
        plain
            .post("/profile", &format!("/admin/users/{}/two-factor/reset", jdoe.id), &[])
            .await
            .status(),
        403
    );
    assert!(has(jdoe.id).await);
    // a User Manager on a User: allowed, as Reset Password is
    let resp = manager
        .post("/profile", &format!("/admin/users/{}/two-factor/reset", jdoe.id), &[])
        .await;
    assert_eq!(resp.status(), 303);
    assert!(!has(jdoe.id).await);

    // an Administrator: allowed, confirmed, audited, mailed
    let page = admin.get_text(&format!("/admin/users/{}", boss.id)).await;
    assert!(page.contains("id=\"reset-two-factor\""), "the menu offers it");
    let confirm = admin.get_text(&path).await;
    assert!(confirm.contains("Reset two-factor") && confirm.contains("boss"));
    let resp = admin.post(&path, &path, &[]).await;
    assert_eq!(resp.status(), 303);
    assert!(!has(boss.id).await);
    let mut conn = app.store().conn().await.unwrap();
    let events = muster_store::audit::list(&mut conn, &Default::default(), 100, 0)
        .await
        .unwrap();
    let resets: Vec<_> = events
        .iter()
        .filter(|e| e.action == "user.second_factor_reset")
        .collect();
    assert_eq!(resets.len(), 2);
    assert!(
        resets
            .iter()
            .any(|e| e.actor_username == "admin" && e.target_username == "boss")
    );
    let mails = outbox::list(&mut conn, &[], 100).await.unwrap();
    assert!(
        mails
            .iter()
            .any(|m| m.to_addr == "boss@example.com" && m.subject == "Your muster two-factor sign-in was reset")
    );
    // the password alone signs in again (optional for the role)
    assert_eq!(location(&app.client().login("boss", PASSWORD).await), "/admin");
    // nothing to reset: said so, nothing audited
    let resp = admin.post(&path, &path, &[]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        muster_store::audit::list(&mut conn, &Default::default(), 100, 0)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.action == "user.second_factor_reset")
            .count(),
        2
    );
    // not on oneself, and not outside one's scope
    let own = app.user_by_name("admin").await;
    assert_eq!(
        admin
            .post("/profile", &format!("/admin/users/{}/two-factor/reset", own.id), &[])
            .await
            .status(),
        403
    );
    assert_eq!(admin.get("/admin/users/999999/two-factor/reset").await.status(), 404);
    // an administrator of another organization: not found, nothing changes
    app.create_org("Other").await;
    app.create_user_in("elsewhere", &["Administrator"], &["Other"]).await;
    let stranger = app.signed_in("elsewhere", PASSWORD).await;
    enrol_on_profile(&app.signed_in("other", PASSWORD).await).await;
    let path = format!("/admin/users/{}/two-factor/reset", other.id);
    assert_eq!(stranger.get(&path).await.status(), 404);
    assert_eq!(stranger.post("/profile", &path, &[]).await.status(), 404);
    assert!(has(other.id).await);
}

#[tokio::test]
async fn a_password_reset_does_not_skip_the_factor_sqlite() {
    password_reset_story(TestApp::spawn().await).await;
}

#[tokio::test]
async fn a_password_reset_does_not_skip_the_factor_postgres() {
    password_reset_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

async fn password_reset_story(app: TestApp) {
    start_worker(&app);
    let u = app.create_user("jdoe", &["User"]).await;
    let (secret, _) = enrol_on_profile(&app.signed_in("jdoe", PASSWORD).await).await;
    forget_last_step(&app, u.id).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let resp = admin
        .post("/profile", &format!("/admin/users/{}/reset-password", u.id), &[])
        .await;
    assert_eq!(resp.status(), 303);
    let msgs = wait_spool(&app, 1).await;
    let link = reset_link(&to(&msgs, "jdoe@example.com")[0]).expect("reset link");
    let path = link.trim_start_matches(&app.base).to_owned();
    let token = path.split("token=").nth(1).unwrap().to_owned();
    let c = app.client();
    let resp = c
        .post(
            &path,
            "/reset-password",
            &[("token", &token), ("password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let resp = c.login("jdoe", NEW_PASSWORD).await;
    assert_eq!(location(&resp), "/login/code", "the factor is still asked");
    assert_eq!(c.get("/profile").await.status(), 303);
    let resp = c
        .post("/login/code", "/login/code", &[("code", &code_at(&secret, now_secs()))])
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(c.get("/profile").await.status(), 200);
}

/// `muster user reset-two-factor`: the way back in when an administrator lost
/// both their device and their recovery codes.
#[tokio::test(flavor = "multi_thread")]
async fn the_command_line_resets_a_factor() {
    let app = TestApp::spawn().await;
    let u = app.create_user("boss", &["Administrator"]).await;
    enrol_on_profile(&app.signed_in("boss", PASSWORD).await).await;
    let run = |name: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_muster"))
            .arg("--data-dir")
            .arg(app.data_dir())
            .env("MUSTER_LOG", "warn")
            .env_remove("MUSTER_DATABASE_URL")
            .args(["user", "reset-two-factor", name])
            .output()
            .unwrap()
    };
    let out = run("boss");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("two-factor sign-in of boss reset"));
    let mut conn = app.store().conn().await.unwrap();
    assert!(!muster_store::second_factor::has_factor(&mut conn, u.id).await.unwrap());
    let events = muster_store::audit::list(&mut conn, &Default::default(), 100, 0)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "user.second_factor_reset" && e.actor_username == "cli")
    );
    let out = run("boss");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no two-factor sign-in to reset"));
    let out = run("nobody");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_code_sent_twice_at_once_signs_in_once_sqlite() {
    concurrent_replay_story(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_code_sent_twice_at_once_signs_in_once_postgres() {
    concurrent_replay_story(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

/// The replay check is one conditional statement: two sign-ins racing with
/// the same code (say, one observed over a shoulder) cannot both pass.
async fn concurrent_replay_story(app: TestApp) {
    let u = app.create_user("jdoe", &["User"]).await;
    let (secret, _) = enrol_on_profile(&app.signed_in("jdoe", PASSWORD).await).await;
    forget_last_step(&app, u.id).await;
    let code = code_at(&secret, now_secs());
    let mut clients = Vec::new();
    for _ in 0..4 {
        let c = app.client();
        assert_eq!(location(&c.login("jdoe", PASSWORD).await), "/login/code");
        let token = c.csrf("/login/code").await;
        clients.push((c, token));
    }
    let code = code.as_str();
    let sends = clients.iter().map(|(c, token)| async move {
        c.post_raw("/login/code", &[("code", code), ("csrf", token.as_str())])
            .await
    });
    let statuses: Vec<u16> = futures::future::join_all(sends)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 303).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 3, "{statuses:?}");
}

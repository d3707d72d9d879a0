//! Passkeys over HTTP, on SQLite and PostgreSQL: the cases a browser never
//! sends. A finish without a started ceremony, a ceremony answered twice or
//! after it expired, a malformed answer: each a 4xx with a message, never a
//! 500. An unknown passkey signing in alone is refused with the wrong-password
//! words and recorded at the step "passkey". The accepted ceremonies run in
//! Chromium (`passkeys_browser.rs`).

use muster_store::login_attempts;
use serde_json::{Value, json};

use crate::support::{Client, PASSWORD, TestApp, TestDb, location};

/// A server whose public URL is `http://localhost:PORT`: WebAuthn needs a
/// domain name as its relying party id (an IP address cannot be one).
pub async fn spawn_localhost(db: TestDb) -> TestApp {
    TestApp::spawn_with(db, |c| {
        let port = c.bind.rsplit(':').next().unwrap_or_default().to_owned();
        c.public_url = format!("http://localhost:{port}");
    })
    .await
}

/// POST JSON with the CSRF token of the page at `token_from` in `x-csrf-token`.
pub async fn post_json(c: &Client, token_from: &str, path: &str, body: Value) -> (u16, Value) {
    let token = c.csrf(token_from).await;
    let resp = c
        .http
        .post(format!("{}{}", c.base, path))
        .header("x-csrf-token", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(json!({ "raw": text })))
}

/// A registration answer in the right shape whose bytes prove nothing.
fn forged_registration() -> Value {
    json!({"name": "Forged", "credential": {
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"attestationObject": "AAAA", "clientDataJSON": "AAAA"}
    }})
}

/// An assertion in the right shape, for credential `id` (base64url), signed by nobody.
pub fn forged_assertion(id: &str) -> Value {
    json!({"credential": {
        "id": id, "rawId": id, "type": "public-key",
        "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA", "userHandle": null}
    }})
}

async fn set_setting(app: &TestApp, key: &str, value: &str) {
    let mut conn = app.store().conn().await.unwrap();
    muster_store::settings::put(&mut conn, key, value, 0).await.unwrap();
}

#[tokio::test]
async fn ceremonies_refuse_what_a_browser_never_sends_sqlite() {
    deny_story(spawn_localhost(TestDb::sqlite()).await).await;
}

#[tokio::test]
async fn ceremonies_refuse_what_a_browser_never_sends_postgres() {
    deny_story(spawn_localhost(TestDb::postgres().await).await).await;
}

async fn deny_story(app: TestApp) {
    app.create_user("jdoe", &["User"]).await;
    let me = app.signed_in("jdoe", PASSWORD).await;
    let profile = me.get_text("/profile").await;
    assert!(profile.contains("id=\"passkey-add\""), "the profile offers a passkey");

    // a finish without a started ceremony
    let (status, body) = post_json(&me, "/profile", "/profile/passkeys", forged_registration()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("No passkey request"), "{body}");

    // the options: a challenge, a discoverable credential with user verification
    let (status, options) = post_json(&me, "/profile", "/profile/passkeys/options", json!({})).await;
    assert_eq!(status, 200, "{options}");
    assert!(
        options["publicKey"]["challenge"]
            .as_str()
            .is_some_and(|c| c.len() >= 32),
        "{options}"
    );
    assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["residentKey"],
        "required"
    );
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["userVerification"],
        "required"
    );

    // not JSON, and JSON of another shape: 400, and the ceremony is still there
    let token = me.csrf("/profile").await;
    let resp = me
        .http
        .post(format!("{}/profile/passkeys", me.base))
        .header("x-csrf-token", &token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // an answer of the right shape that does not verify: 422, and it used the ceremony
    let (status, body) = post_json(&me, "/profile", "/profile/passkeys", forged_registration()).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("could not be verified"),
        "{body}"
    );
    // answered again (a replay): the ceremony is gone
    let (status, body) = post_json(&me, "/profile", "/profile/passkeys", forged_registration()).await;
    assert_eq!(status, 400, "{body}");

    // a credential that is not a WebAuthn answer at all
    post_json(&me, "/profile", "/profile/passkeys/options", json!({})).await;
    let (status, body) = post_json(
        &me,
        "/profile",
        "/profile/passkeys",
        json!({"name": "x", "credential": {"hello": 1}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not a WebAuthn answer"),
        "{body}"
    );

    // an expired ceremony
    post_json(&me, "/profile", "/profile/passkeys/options", json!({})).await;
    {
        let mut conn = app.store().conn().await.unwrap();
        sqlx::query("UPDATE passkey_ceremonies SET expires_at = 1")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let (status, body) = post_json(&me, "/profile", "/profile/passkeys", forged_registration()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("expired"), "{body}");

    // a name is required
    post_json(&me, "/profile", "/profile/passkeys/options", json!({})).await;
    let mut nameless = forged_registration();
    nameless["name"] = json!("  ");
    let (status, body) = post_json(&me, "/profile", "/profile/passkeys", nameless).await;
    assert_eq!(status, 400, "{body}");

    // nothing was stored, nor audited
    {
        let mut conn = app.store().conn().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM second_factors")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(n, 0);
    }
    // removing a passkey that is not one's own: 404
    let resp = me.post("/profile", "/profile/passkeys/999/remove", &[]).await;
    assert_eq!(resp.status(), 404);

    // the second step without a pending sign-in
    let anon = app.client();
    let (status, body) = post_json(&anon, "/login", "/login/passkey", forged_assertion("AAAA")).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = post_json(&anon, "/login", "/login/passkey/options", json!({})).await;
    assert_eq!(status, 401);

    // a passkey alone: off by default
    assert!(!anon.get_text("/login").await.contains("passkey-sign-in"));
    let (status, body) = post_json(&anon, "/login", "/login/passkey-only/options", json!({})).await;
    assert_eq!(status, 409, "{body}");
    set_setting(&app, "passkey_sign_in", "1").await;
    assert!(anon.get_text("/login").await.contains("id=\"passkey-sign-in\""));
    // a finish without options
    let (status, body) = post_json(&anon, "/login", "/login/passkey-only", forged_assertion("AAAA")).await;
    assert_eq!(status, 400, "{body}");
    // options (no user is named: a discoverable credential), then an unknown passkey
    let (status, options) = post_json(&anon, "/login", "/login/passkey-only/options", json!({})).await;
    assert_eq!(status, 200, "{options}");
    assert!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{options}"
    );
    assert!(options.get("mediation").is_none(), "{options}");
    let (status, body) = post_json(&anon, "/login", "/login/passkey-only", forged_assertion("AAAA")).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "Invalid username or password.");
    // a replay of the same answer: no ceremony any more
    let (status, _) = post_json(&anon, "/login", "/login/passkey-only", forged_assertion("AAAA")).await;
    assert_eq!(status, 400);
    // malformed: 400, never 500
    post_json(&anon, "/login", "/login/passkey-only/options", json!({})).await;
    let (status, _) = post_json(&anon, "/login", "/login/passkey-only", json!({"credential": "zzz"})).await;
    assert_eq!(status, 400);
    let resp = anon.get("/profile").await;
    assert!(location(&resp).starts_with("/login"), "no session");

    // enrolment during sign-in (the role requires a factor): the same refusals, no session
    set_setting(&app, "second_factor_user", "2").await;
    app.create_user("newbie", &["User"]).await;
    let newbie = app.client();
    assert_eq!(location(&newbie.login("newbie", PASSWORD).await), "/login/enrol");
    let enrol = "/login/enrol";
    assert!(newbie.get_text(enrol).await.contains("id=\"passkey-enrol\""));
    let (status, _) = post_json(&newbie, enrol, "/login/enrol/passkey", forged_registration()).await;
    assert_eq!(status, 400);
    let (status, _) = post_json(&newbie, enrol, "/login/enrol/passkey/options", json!({})).await;
    assert_eq!(status, 200);
    let (status, _) = post_json(&newbie, enrol, "/login/enrol/passkey", forged_registration()).await;
    assert_eq!(status, 422);
    assert!(
        location(&newbie.get("/profile").await).starts_with("/login"),
        "no session"
    );
    // a signed-in user's registration is not the pending sign-in's
    let (status, _) = post_json(&me, "/profile", "/profile/passkeys/options", json!({})).await;
    assert_eq!(status, 200);
    let (status, _) = post_json(&newbie, enrol, "/login/enrol/passkey", forged_registration()).await;
    assert_eq!(status, 400);

    let mut conn = app.store().conn().await.unwrap();
    let all = login_attempts::list(&mut conn, &Default::default(), 100, 0)
        .await
        .unwrap();
    let unknown = all
        .iter()
        .find(|a| a.reason == "unknown passkey")
        .expect("the unknown passkey is recorded");
    assert_eq!(unknown.step, "passkey");
    assert!(!unknown.success);
}

/// With a public URL on an IP address, WebAuthn has no relying party id:
/// passkeys are not offered, and asking for them is a 409 that says why.
#[tokio::test]
async fn an_ip_address_public_url_has_no_passkeys() {
    let app = TestApp::spawn().await;
    app.create_user("jdoe", &["User"]).await;
    let me = app.signed_in("jdoe", PASSWORD).await;
    assert!(!me.get_text("/profile").await.contains("passkey-add"));
    let (status, body) = post_json(&me, "/profile", "/profile/passkeys/options", json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("domain name"), "{body}");
}

/// webauthn-rs traces ceremony states (the challenge) at trace level: even an
/// operator asking for exactly that gets nothing of it in the log.
#[tokio::test]
async fn ceremony_states_never_reach_the_log() {
    use crate::support::serve_process::{ServeProcess, muster};
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = muster(dir.path());
    cmd.arg("--public-url")
        .arg("http://localhost:1")
        .env("MUSTER_LOG", "warn,webauthn_rs=trace,webauthn_rs_core=trace");
    let serve = ServeProcess::start(cmd, dir.path());
    let admin = Client::new(&serve.base);
    let resp = admin.login("admin", crate::support::ADMIN_PASSWORD).await;
    assert_eq!(resp.status(), 303);
    let (status, options) = post_json(&admin, "/profile", "/profile/passkeys/options", json!({})).await;
    assert_eq!(status, 200, "{options}");
    let challenge = options["publicKey"]["challenge"].as_str().unwrap().to_owned();
    // a forged answer reaches webauthn-rs's verification, which traces the state first
    let (status, _) = post_json(&admin, "/profile", "/profile/passkeys", forged_registration()).await;
    assert_eq!(status, 422);
    let log = serve.stderr();
    assert!(!log.contains("webauthn_rs"), "webauthn-rs wrote to the log:\n{log}");
    assert!(!log.contains(&challenge), "the challenge reached the log:\n{log}");
}

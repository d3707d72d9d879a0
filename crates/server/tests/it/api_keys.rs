//! The life of an API key: generate, use, replace, revoke, refused while the
//! user cannot sign in; and the rate limit on failed keys.

use muster_domain::AuthStatus;
use muster_server::crypto::sha256_hex;
use serde_json::json;

use crate::api_client::{Api, key_for};
use crate::support::{TestApp, TestDb};

async fn key_life(app: TestApp) {
    let admin = app.user_by_name("admin").await;
    let admin_api = Api::new(&app, Some(&key_for(&app, admin.id, None).await));
    let kim = app.create_user("kim", &["User"]).await;

    // generate: 201, the key only in this response, stored as its SHA-256
    let r = admin_api.post_empty(&format!("/api/users/{}/api-key", kim.id)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let first = r.body["data"]["attributes"]["apiKey"].as_str().unwrap().to_owned();
    assert!(first.starts_with("mk_") && first.len() == 46, "{first}");
    assert_eq!(r.body["data"]["attributes"]["organization"], "Main");
    assert_eq!(r.headers.get("cache-control").unwrap(), "no-store");
    let stored: Vec<(String, String)> = {
        let mut c = app.store().conn().await.unwrap();
        sqlx::query_as("SELECT key_hash, key_prefix FROM api_keys WHERE user_id = $1")
            .bind(kim.id)
            .fetch_all(&mut *c)
            .await
            .unwrap()
    };
    assert_eq!(stored, vec![(sha256_hex(&first), first[..10].to_owned())]);

    // use
    let kim_api = Api::new(&app, Some(&first));
    let r = kim_api.get("/api/userprofile").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["attributes"]["username"], "kim");
    assert_eq!(r.body["data"]["type"], "users");
    assert_eq!(r.body["data"]["id"], kim.id.to_string());
    assert!(r.body["data"]["attributes"].get("password").is_none());
    let mut c = app.store().conn().await.unwrap();
    let keys = muster_store::api_keys::for_user(&mut c, kim.id).await.unwrap();
    assert!(keys[0].last_used_at.is_some(), "last use is noted");
    drop(c);
    // the key is never shown again
    let r = admin_api.get(&format!("/api/users/{}", kim.id)).await;
    assert!(!r.text.contains(&first));

    // replace: the old key is refused, the new one works
    let r = kim_api.post_empty(&format!("/api/users/{}/api-key", kim.id)).await;
    assert_eq!(r.status, 201, "a user may generate their own key");
    let second = r.body["data"]["attributes"]["apiKey"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(kim_api.get("/api/userprofile").await.status, 401, "old key refused");
    let kim_api = Api::new(&app, Some(&second));
    assert_eq!(kim_api.get("/api/userprofile").await.status, 200);

    // disabled: refused; enabled again: accepted
    let r = admin_api.post_empty(&format!("/api/users/{}/disable", kim.id)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["attributes"]["enabled"], false);
    let r = kim_api.get("/api/userprofile").await;
    assert_eq!(r.status, 401);
    assert!(r.headers.get("www-authenticate").is_some());
    assert_eq!(
        admin_api
            .post_empty(&format!("/api/users/{}/enable", kim.id))
            .await
            .status,
        200
    );
    assert_eq!(kim_api.get("/api/userprofile").await.status, 200);

    // locked: refused until activated
    let mut c = app.store().conn().await.unwrap();
    muster_store::users::set_auth_status(&mut c, kim.id, AuthStatus::Locked, 1)
        .await
        .unwrap();
    drop(c);
    assert_eq!(kim_api.get("/api/userprofile").await.status, 401);
    let r = admin_api.post_empty(&format!("/api/users/{}/activate", kim.id)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["attributes"]["authStatus"], "active");
    assert_eq!(kim_api.get("/api/userprofile").await.status, 200);

    // password reset: refused; activate cannot lift it (409)
    let mut c = app.store().conn().await.unwrap();
    muster_store::users::set_auth_status(&mut c, kim.id, AuthStatus::PasswordReset, 1)
        .await
        .unwrap();
    drop(c);
    assert_eq!(kim_api.get("/api/userprofile").await.status, 401);
    let r = admin_api.post_empty(&format!("/api/users/{}/activate", kim.id)).await;
    assert_eq!(r.status, 409, "{}", r.text);
    let mut c = app.store().conn().await.unwrap();
    muster_store::users::set_auth_status(&mut c, kim.id, AuthStatus::Active, 1)
        .await
        .unwrap();
    drop(c);
    assert_eq!(kim_api.get("/api/userprofile").await.status, 200);

    // revoke: refused afterwards; nothing left to revoke is a 404
    assert_eq!(
        admin_api.delete(&format!("/api/users/{}/api-key", kim.id)).await.status,
        204
    );
    assert_eq!(kim_api.get("/api/userprofile").await.status, 401);
    assert_eq!(
        admin_api.delete(&format!("/api/users/{}/api-key", kim.id)).await.status,
        404
    );

    // failed attempts are login attempts with source api; the key itself is never stored
    let mut c = app.store().conn().await.unwrap();
    let attempts = muster_store::login_attempts::list(
        &mut c,
        &muster_store::login_attempts::Filter {
            source: Some("api".into()),
            ..Default::default()
        },
        100,
        0,
    )
    .await
    .unwrap();
    let reasons: Vec<&str> = attempts.iter().map(|a| a.reason.as_str()).collect();
    for expected in ["unknown API key", "disabled", "locked", "password reset pending"] {
        assert!(reasons.contains(&expected), "{expected} missing from {reasons:?}");
    }
    assert!(
        attempts
            .iter()
            .all(|a| !a.success && !a.username.contains(&second[10..]))
    );
    // and audited
    let events = muster_store::audit::list(&mut c, &Default::default(), 100, 0)
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"api_key.generated") && actions.contains(&"api_key.revoked"),
        "{actions:?}"
    );
    let revoked = events.iter().find(|e| e.action == "api_key.revoked").unwrap();
    assert_eq!(revoked.actor_username, "admin");
    assert_eq!(revoked.target_username, "kim");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_life_sqlite() {
    key_life(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn key_life_postgres() {
    key_life(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_acts_in_its_organization_only() {
    let app = TestApp::spawn().await;
    app.create_org("Acme").await;
    let both = app.create_user_in("both", &["Administrator"], &["Main", "Acme"]).await;
    let in_main = app.create_user_in("in-main", &["User"], &["Main"]).await;
    let in_acme = app.create_user_in("in-acme", &["User"], &["Acme"]).await;
    let acme = {
        let mut c = app.store().conn().await.unwrap();
        muster_store::organizations::find_by_name(&mut c, "Acme")
            .await
            .unwrap()
            .unwrap()
            .id
    };
    let api = Api::new(&app, Some(&key_for(&app, both.id, Some(acme)).await));
    assert_eq!(api.get(&format!("/api/users/{}", in_acme.id)).await.status, 200);
    assert_eq!(api.get(&format!("/api/users/{}", in_main.id)).await.status, 404);
    let r = api.get("/api/users?filter[view]=all&page[size]=100").await;
    let names: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["attributes"]["username"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"in-acme") && !names.contains(&"in-main"), "{names:?}");
    // a key of a user removed from its organization stops working
    let mut c = app.store().conn().await.unwrap();
    let main = muster_store::organizations::find_by_name(&mut c, "Main")
        .await
        .unwrap()
        .unwrap()
        .id;
    muster_store::users::set_organizations(&mut c, both.id, &[main])
        .await
        .unwrap();
    drop(c);
    assert_eq!(api.get("/api/userprofile").await.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_keys_are_rate_limited_per_address() {
    let app = TestApp::spawn().await;
    let mut c = app.store().conn().await.unwrap();
    muster_store::settings::put(&mut c, "api_key_failures_per_minute", "3", 0)
        .await
        .unwrap();
    drop(c);
    let admin = app.user_by_name("admin").await;
    let good = Api::new(&app, Some(&key_for(&app, admin.id, None).await));
    let anonymous = Api::new(&app, None);
    for _ in 0..5 {
        assert_eq!(
            anonymous.get("/api/userprofile").await.status,
            401,
            "no key is not an attempt"
        );
    }
    let bad = Api::new(&app, Some("mk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    for _ in 0..3 {
        assert_eq!(bad.get("/api/userprofile").await.status, 401);
    }
    let r = bad.get("/api/userprofile").await;
    assert_eq!(r.status, 429);
    let wait: u64 = r.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    assert_eq!(
        good.get("/api/userprofile").await.status,
        200,
        "only failures are limited: a valid key from the same address is answered"
    );
    assert_eq!(
        bad.get("/api/userprofile").await.status,
        429,
        "still blocked for wrong keys"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_wrong_scheme_are_401() {
    let app = TestApp::spawn().await;
    for header in ["Basic YWRtaW46eA==", "Bearer", "Bearer not-a-key", "mk_only"] {
        let r = reqwest::Client::new()
            .get(app.url("/api/userprofile"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{header}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_prints_a_working_key() {
    let app = TestApp::spawn().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["apikey", "create", "--username", "admin"])
        .env("MUSTER_DATABASE_URL", &app.db.url)
        .env("MUSTER_DATA_DIR", app.data_dir())
        .env("MUSTER_LOG", "error")
        .output()
        .expect("run muster");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let api = Api::new(&app, Some(&key));
    let r = api
        .post(
            "/api/organizations",
            json!({"data": {"type": "organizations", "attributes": {"name": "Acme"}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api.get("/api/organizations").await;
    let names: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["attributes"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Acme", "Main"], "the creator joins the new organization");
}

//! Generate Key and revoke in the UI: on /profile for oneself, on the user
//! page for administrators; the key shown once; the Copy button; the sandbox.

use crate::api_client::Api;
use crate::support::{ADMIN_PASSWORD, PASSWORD, TestApp, location, webdriver::Browser};

fn key_on(html: &str) -> String {
    let marker = "id=\"api-key-value\" readonly value=\"";
    let start = html.find(marker).expect("a key on the page") + marker.len();
    html[start..start + 46].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn own_key_from_the_profile() {
    let app = TestApp::spawn().await;
    app.create_user("kim", &["User"]).await;
    let c = app.signed_in("kim", PASSWORD).await;
    let html = c.get_text("/profile").await;
    assert!(html.contains("Generate Key") && html.contains("No key"), "{html}");

    let r = c.post("/profile", "/profile/api-key", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let key = key_on(&r.text().await.unwrap());
    assert!(key.starts_with("mk_"));
    assert_eq!(Api::new(&app, Some(&key)).get("/api/userprofile").await.status, 200);

    // afterwards only the prefix is shown, with the times
    let html = c.get_text("/profile").await;
    assert!(html.contains(&format!("{}…", &key[..10])) && !html.contains(&key));
    assert!(!html.contains("No key"));

    let r = c.post("/profile", "/profile/api-key/revoke", &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/profile");
    assert_eq!(Api::new(&app, Some(&key)).get("/api/userprofile").await.status, 401);
    assert!(c.get_text("/profile").await.contains("API key revoked."));

    // without the form token nothing happens
    let r = c.post_raw("/profile/api-key", &[]).await;
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn administrators_manage_keys_of_their_organizations_only() {
    let app = TestApp::spawn().await;
    app.create_org("Acme").await;
    let kim = app.create_user("kim", &["User"]).await;
    app.create_user("manager", &["User Manager"]).await;
    app.create_user_in("acme-admin", &["Administrator"], &["Acme"]).await;
    let path = format!("/admin/users/{}/api-key", kim.id);

    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let r = admin.post("/profile", &path, &[]).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("API key of kim"));
    let key = key_on(&html);
    let r = Api::new(&app, Some(&key)).get("/api/userprofile").await;
    assert_eq!(r.body["data"]["attributes"]["username"], "kim");

    let manager = app.signed_in("manager", PASSWORD).await;
    assert_eq!(manager.post("/profile", &path, &[]).await.status(), 403);
    assert_eq!(
        manager.post("/profile", &format!("{path}/revoke"), &[]).await.status(),
        403
    );
    let acme = app.signed_in("acme-admin", PASSWORD).await;
    assert_eq!(acme.post("/profile", &path, &[]).await.status(), 404);
    let kim_web = app.signed_in("kim", PASSWORD).await;
    let admin_id = app.user_by_name("admin").await.id;
    assert_eq!(
        kim_web
            .post("/profile", &format!("/admin/users/{admin_id}/api-key"), &[])
            .await
            .status(),
        403
    );
    assert_eq!(
        Api::new(&app, Some(&key)).get("/api/userprofile").await.status,
        200,
        "still the same key"
    );

    let r = admin.post("/profile", &format!("{path}/revoke"), &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("/admin/users/{}", kim.id));
    assert_eq!(Api::new(&app, Some(&key)).get("/api/userprofile").await.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn sandbox_and_spec_are_served() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let r = c.get("/api/openapi.json").await;
    assert_eq!(r.status(), 200);
    let spec: serde_json::Value = r.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(spec["components"]["securitySchemes"]["apiKey"]["scheme"], "bearer");
    for path in [
        "/users",
        "/users/{id}",
        "/users/{id}/api-key",
        "/userprofile",
        "/organizations",
        "/records",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} missing from the spec");
    }
    let html = c.get_text("/api/docs/").await;
    assert!(html.contains("swagger"), "{html}");
    let init = c.get_text("/api/docs/swagger-initializer.js").await;
    assert!(
        init.contains("/api/openapi.json") && init.contains("persistAuthorization"),
        "{init}"
    );
    let r = c.get("/api/nothing-here").await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers().get("content-type").unwrap(), "application/vnd.api+json");
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_generates_copies_and_uses_a_key() {
    let app = TestApp::spawn().await;
    app.create_user("kim", &["User"]).await;
    let b = Browser::start().await;
    b.login(&app.base, "kim", PASSWORD).await;
    b.goto(&app.url("/profile")).await;
    b.click("#api-keys button.generate-key").await;
    b.find("#api-key-value").await;
    let key = b.attr("#api-key-value", "value").await.unwrap();
    assert!(key.starts_with("mk_") && key.len() == 46);
    b.click("#copy-api-key").await;
    b.wait_text("Copied").await;
    b.click("#new-api-key a.button").await;
    b.find("#api-keys code.key-prefix").await;
    assert_eq!(b.text("#api-keys code.key-prefix").await, format!("{}…", &key[..10]));
    assert_eq!(Api::new(&app, Some(&key)).get("/api/userprofile").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn generate_key_on_the_user_page() {
    let app = TestApp::spawn().await;
    let kim = app.create_user("kim", &["User"]).await;
    app.create_user("manager", &["User Manager"]).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let page = format!("/admin/users/{}", kim.id);
    let html = admin.get_text(&page).await;
    assert!(
        html.contains("<dt>API key</dt>") && html.contains("Generate Key"),
        "{html}"
    );
    let r = admin.post(&page, &format!("{page}/api-key"), &[]).await;
    let key = key_on(&r.text().await.unwrap());
    assert!(admin.get_text(&page).await.contains(&format!("{}…", &key[..10])));
    let manager = app.signed_in("manager", PASSWORD).await;
    let html = manager.get_text(&page).await;
    assert!(
        !html.contains("Generate Key"),
        "a User Manager does not manage others' keys"
    );
}

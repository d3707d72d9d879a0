//! The endpoints over the users page, passwords and exports services, per role.

use serde_json::{Value, json};

use crate::api_client::{Api, key_for};
use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn changes_per_role() {
    let app = TestApp::spawn().await;
    app.create_org("Acme").await;
    let user = app.create_user("plain-user", &["User"]).await;
    let manager = app.create_user("manager", &["User Manager"]).await;
    let other = app.create_user_in("other-admin", &["Administrator"], &["Acme"]).await;
    let admin = app.user_by_name("admin").await;
    let target = app.create_user("zed-target", &["User"]).await;
    let heir = app.create_user("heir", &["User"]).await;
    let acme = {
        let mut c = app.store().conn().await.unwrap();
        muster_store::organizations::find_by_name(&mut c, "Acme")
            .await
            .unwrap()
            .unwrap()
            .id
    };
    let apis = [
        Api::new(&app, None),
        Api::new(&app, Some(&key_for(&app, user.id, None).await)),
        Api::new(&app, Some(&key_for(&app, manager.id, None).await)),
        Api::new(&app, Some(&key_for(&app, other.id, Some(acme)).await)),
        Api::new(&app, Some(&key_for(&app, admin.id, None).await)),
    ];
    let t = target.id;
    let r = apis[4]
        .post(
            "/api/records",
            json!({"data": {"type": "records", "attributes": {"kind": "contact", "title": "c1", "ownerId": t}}}),
        )
        .await;
    assert_eq!(r.status, 201);

    let ids = json!({"ids": [t]});
    let cases: Vec<(&str, String, Option<Value>, [u16; 5])> = vec![
        (
            "PATCH",
            format!("/api/users/{t}"),
            Some(json!({"data": {"type": "users", "attributes": {"firstName": "Zedd"}}})),
            [401, 403, 200, 404, 200],
        ),
        (
            "POST",
            format!("/api/users/{t}/password"),
            Some(json!({"password": "Velvet-Compass-Meadow-19"})),
            [401, 403, 200, 404, 200],
        ),
        (
            "POST",
            format!("/api/users/{t}/reset-password"),
            None,
            [401, 403, 200, 404, 200],
        ),
        (
            "POST",
            "/api/users/mass/disable".into(),
            Some(ids.clone()),
            [401, 403, 200, 200, 200],
        ),
        (
            "POST",
            "/api/users/mass/enable".into(),
            Some(ids.clone()),
            [401, 403, 200, 200, 200],
        ),
        (
            "POST",
            "/api/users/mass/reset-password".into(),
            Some(ids.clone()),
            [401, 403, 202, 202, 202],
        ),
        ("DELETE", format!("/api/users/{t}"), None, [401, 403, 403, 404, 409]),
        (
            "POST",
            format!("/api/users/{t}/reassign-records"),
            Some(json!({"toUserId": heir.id.to_string()})),
            [401, 403, 403, 404, 200],
        ),
        ("DELETE", format!("/api/users/{t}"), None, [401, 403, 403, 404, 204]),
        (
            "POST",
            "/api/exports/users?filter[view]=all".into(),
            None,
            [401, 403, 403, 202, 202],
        ),
    ];
    let mut failures = Vec::new();
    for (method, path, body, expect) in &cases {
        for (i, api) in apis.iter().enumerate() {
            let r = api.send(method, path, body.clone()).await;
            if r.status != expect[i] {
                failures.push(format!(
                    "{method} {path} as #{i}: {} (expected {}): {}",
                    r.status, expect[i], r.text
                ));
            }
            if i == 3 && r.text.contains("zed-target") {
                failures.push(format!("{method} {path} leaks to the other organization: {}", r.text));
            }
            if i == 3 && path.contains("/mass/") && r.body["meta"]["affected"] != 0 {
                failures.push(format!("{method} {path}: other organization affected {}", r.text));
            }
            if i == 4 && *method == "DELETE" && r.status == 409 && !r.detail().contains("1 contact") {
                failures.push(format!("409 without the counts: {}", r.text));
            }
        }
    }
    // oneself
    let r = apis[4].delete(&format!("/api/users/{}", admin.id)).await;
    if r.status != 403 {
        failures.push(format!("delete oneself: {}", r.text));
    }
    // bodies point at their culprit
    let r = apis[4]
        .post("/api/users/mass/enable", json!({"filter": {"view": "nope"}}))
        .await;
    if r.status != 400 || !r.text.contains("nope") {
        failures.push(format!("mass filter: {}", r.text));
    }
    let r = apis[4].post("/api/users/mass/enable", json!({})).await;
    if r.status != 400 {
        failures.push(format!("mass without selection: {}", r.text));
    }
    let r = apis[4]
        .post(
            &format!("/api/users/{}/password", heir.id),
            json!({"password": "short"}),
        )
        .await;
    if r.status != 422 || r.pointer() != "/password" {
        failures.push(format!("weak password: {}", r.text));
    }
    let r = apis[4]
        .send("POST", "/api/exports/users?filter[colour]=red", None)
        .await;
    if r.status != 400 || !r.text.contains("filter[colour]") {
        failures.push(format!("export filter: {}", r.text));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_patch_naming_another_id_is_a_conflict() {
    let app = TestApp::spawn().await;
    let admin = app.user_by_name("admin").await;
    let target = app.create_user("target", &["User"]).await;
    let api = Api::new(&app, Some(&key_for(&app, admin.id, None).await));
    let r = api
        .post(
            "/api/records",
            json!({"data": {"type": "records", "attributes": {"kind": "contact", "title": "c1", "ownerId": target.id}}}),
        )
        .await;
    assert_eq!(r.status, 201);
    let record = r.body["data"]["id"].as_str().unwrap().to_owned();
    let body = json!({"data": {"type": "users", "id": "999", "attributes": {"firstName": "Other"}}});
    let r = api
        .send("PATCH", &format!("/api/users/{}", target.id), Some(body))
        .await;
    assert_eq!((r.status, r.pointer()), (409, "/data/id".to_owned()));
    let body = json!({"data": {"type": "records", "id": "999", "attributes": {"title": "c2"}}});
    let r = api.send("PATCH", &format!("/api/records/{record}"), Some(body)).await;
    assert_eq!((r.status, r.pointer()), (409, "/data/id".to_owned()));
    assert_eq!(app.user(target.id).await.first_name, "Firsttarget", "nothing changed");
}

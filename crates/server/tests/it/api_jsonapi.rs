//! What JSON:API 1.1 lets a client do, done against the API: the members a
//! resource object may carry, read-only attributes sent back, media type
//! negotiation, query-parameter errors, relationships, `include` and sparse
//! fieldsets.

use serde_json::{Value, json};

use crate::api_client::{Api, key_for};
use crate::support::TestApp;

async fn admin_api(app: &TestApp) -> Api {
    let admin = app.user_by_name("admin").await;
    let key = key_for(app, admin.id, None).await;
    Api::new(app, Some(&key))
}

/// A request with its own headers; the status and the parsed body.
async fn raw(api: &Api, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = api
        .http
        .request(m, format!("{}{path}", api.base))
        .header("authorization", format!("Bearer {}", api.key.as_deref().unwrap()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b.to_owned());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn resource_objects_may_carry_every_member_the_spec_allows() {
    let app = TestApp::spawn().await;
    let api = admin_api(&app).await;
    let jdoe = app.create_user("jdoe", &["User"]).await;
    let path = format!("/api/users/{}", jdoe.id);

    // what the Python jsonapi-client sends on commit(): the changed attributes and "relationships": {}
    let r = api
        .send(
            "PATCH",
            &path,
            Some(json!({"data": {"type": "users", "id": jdoe.id.to_string(),
                "attributes": {"firstName": "Janet"}, "relationships": {}}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["attributes"]["firstName"], "Janet");

    // links, meta, lid in the resource object; meta and jsonapi at the top
    let r = api
        .send(
            "PATCH",
            &path,
            Some(json!({"jsonapi": {"version": "1.1"}, "meta": {"by": "test"},
                "data": {"type": "users", "id": jdoe.id.to_string(), "lid": "x",
                "attributes": {"lastName": "Roe"}, "links": {"self": path}, "meta": {"note": 1}}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["attributes"]["lastName"], "Roe");

    // the whole resource as read, sent back with one change: read-only attributes unchanged are ignored
    let mut read = api.get(&path).await.body["data"].clone();
    read["attributes"]["firstName"] = json!("Jo");
    let r = api.send("PATCH", &path, Some(json!({ "data": read }))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["attributes"]["firstName"], "Jo");

    // …and a changed read-only attribute is a 422 pointing at it; nothing changes
    let r = api
        .send(
            "PATCH",
            &path,
            Some(json!({"data": {"type": "users", "id": jdoe.id.to_string(),
                "attributes": {"firstName": "Never", "loginCount": 99, "authStatus": "locked"}}})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let pointers: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"]["pointer"].as_str().unwrap())
        .collect();
    assert!(pointers.contains(&"/data/attributes/loginCount"), "{pointers:?}");
    assert!(pointers.contains(&"/data/attributes/authStatus"), "{pointers:?}");
    assert_eq!(app.user(jdoe.id).await.first_name, "Jo");

    // an unknown relationship is named
    let r = api
        .send(
            "PATCH",
            &path,
            Some(json!({"data": {"type": "users", "id": jdoe.id.to_string(),
                "relationships": {"manager": {"data": null}}}})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.detail().contains("manager"), "{}", r.text);

    // create: relationships {} and meta are fine; a client-generated id is a 403
    let new = json!({"data": {"type": "users", "attributes": {"username": "new1", "email": "new1@example.com",
        "firstName": "New", "lastName": "One"}, "relationships": {}, "meta": {}, "links": {}}});
    let r = api.post("/api/users", new).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api
        .post(
            "/api/users",
            json!({"data": {"type": "users", "id": "77", "attributes": {"username": "new2", "email": "new2@example.com",
                "firstName": "New", "lastName": "Two"}}}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.pointer(), "/data/id");
    let r = api
        .post(
            "/api/users",
            json!({"data": {"type": "users", "attributes": {"username": "new3", "email": "new3@example.com",
                "firstName": "New", "lastName": "Three", "createdAt": "2020-01-01T00:00:00Z"}}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.pointer(), "/data/attributes/createdAt");

    // records and organizations take the same members
    let r = api
        .post(
            "/api/records",
            json!({"data": {"type": "records", "attributes": {"kind": "task", "title": "Call", "ownerId": jdoe.id},
                "relationships": {}, "meta": {}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rec = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = api
        .send(
            "PATCH",
            &format!("/api/records/{rec}"),
            Some(
                json!({"data": {"type": "records", "id": rec, "attributes": {"title": "Call back"},
                "relationships": {}, "links": {}}}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api
        .post(
            "/api/organizations",
            json!({"data": {"type": "organizations", "attributes": {"name": "Branch"}, "relationships": {}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn media_types_are_negotiated_as_json_api_1_1_says() {
    let app = TestApp::spawn().await;
    let api = admin_api(&app).await;
    let jdoe = app.create_user("jdoe", &["User"]).await;
    let path = format!("/api/users/{}", jdoe.id);
    let body =
        json!({"data": {"type": "users", "id": jdoe.id.to_string(), "attributes": {"firstName": "J"}}}).to_string();

    for ok in [
        "application/vnd.api+json",
        "application/json",
        "application/json; charset=utf-8",
        "application/vnd.api+json; profile=\"https://example.com/profile\"",
    ] {
        let (status, v) = raw(&api, "PATCH", &path, &[("content-type", ok)], Some(&body)).await;
        assert_eq!(status, 200, "{ok}: {v}");
    }
    for refused in [
        "application/vnd.api+json; charset=utf-8",
        "application/vnd.api+json; version=1",
        "application/vnd.api+json; ext=\"https://jsonapi.org/ext/atomic\"",
        "text/plain",
    ] {
        let (status, v) = raw(&api, "PATCH", &path, &[("content-type", refused)], Some(&body)).await;
        assert_eq!(status, 415, "{refused}: {v}");
        assert_eq!(v["errors"][0]["source"]["header"], "Content-Type", "{v}");
    }

    for ok in [
        "application/vnd.api+json",
        "*/*",
        "application/json",
        "application/vnd.api+json; charset=utf-8, application/vnd.api+json",
    ] {
        let (status, v) = raw(&api, "GET", &path, &[("accept", ok)], None).await;
        assert_eq!(status, 200, "{ok}: {v}");
    }
    for refused in [
        "application/vnd.api+json; charset=utf-8",
        "application/vnd.api+json; ext=\"https://jsonapi.org/ext/atomic\"",
    ] {
        let (status, v) = raw(&api, "GET", &path, &[("accept", refused)], None).await;
        assert_eq!(status, 406, "{refused}: {v}");
        assert_eq!(v["errors"][0]["source"]["header"], "Accept", "{v}");
    }

    // one JSON document, nothing after it
    let (status, v) = raw(
        &api,
        "PATCH",
        &path,
        &[("content-type", "application/vnd.api+json")],
        Some(&format!("{body}{body}")),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(app.user(jdoe.id).await.first_name, "J");
}

#[tokio::test]
async fn query_parameter_errors_name_the_parameter() {
    let app = TestApp::spawn().await;
    let api = admin_api(&app).await;
    let jdoe = app.create_user("jdoe", &["User"]).await;
    for (path, param) in [
        ("/api/users?include=manager".to_owned(), "include"),
        (format!("/api/users/{}?include=roles.users", jdoe.id), "include"),
        ("/api/users?fields[users]=password".to_owned(), "fields[users]"),
        ("/api/users?fields[people]=name".to_owned(), "fields[people]"),
        ("/api/users?colour=red".to_owned(), "colour"),
        ("/api/users?filter[colour]=red".to_owned(), "filter[colour]"),
        ("/api/users?sort=password".to_owned(), "sort"),
        ("/api/users?page[size]=0".to_owned(), "page[size]"),
        (format!("/api/users/{}?colour=red", jdoe.id), "colour"),
        ("/api/records?include=owner".to_owned(), "include"),
    ] {
        let r = api.get(&path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
        let source = &r.body["errors"][0]["source"];
        assert_eq!(source["parameter"], param, "{path}: {}", r.text);
        assert!(
            !source["pointer"].as_str().unwrap().starts_with("/data"),
            "{path}: a query parameter is not in the document: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn roles_and_organizations_are_relationships_with_include_and_fieldsets() {
    let app = TestApp::spawn().await;
    let api = admin_api(&app).await;
    let main = app.system_actor().await.organization_ids[0];
    let branch = app.create_org("Branch").await;
    let jdoe = app
        .create_user_in("jdoe", &["User", "User Manager"], &["Main", "Branch"])
        .await;
    let u = jdoe.id;

    // a user carries both: the attribute arrays (names) and the relationships (identifiers)
    let r = api.get(&format!("/api/users/{u}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let d = &r.body["data"];
    assert_eq!(d["attributes"]["roles"], json!(["User Manager", "User"]));
    let mut roles: Vec<&str> = d["relationships"]["roles"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            assert_eq!(i["type"], "roles");
            i["id"].as_str().unwrap()
        })
        .collect();
    roles.sort();
    assert_eq!(roles, vec!["user", "user_manager"]);
    assert_eq!(
        d["relationships"]["roles"]["links"]["self"],
        format!("/api/users/{u}/relationships/roles")
    );
    let orgs = d["relationships"]["organizations"]["data"].as_array().unwrap();
    assert!(
        orgs.contains(&json!({"type": "organizations", "id": branch.to_string()})),
        "{orgs:?}"
    );
    assert!(r.body.get("included").is_none(), "no include, no included");

    // include: a compound document, each related resource once
    let r = api.get(&format!("/api/users/{u}?include=roles,organizations")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let included = r.body["included"].as_array().unwrap();
    assert!(included.contains(&json!({"type": "roles", "id": "user_manager", "attributes": {"name": "User Manager"}})));
    assert!(
        included.iter().any(|i| i["type"] == "organizations"
            && i["id"] == json!(branch.to_string())
            && i["attributes"]["name"] == "Branch"),
        "{included:?}"
    );
    let r = api.get("/api/users?include=roles&page[size]=50").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let roles_included: Vec<&Value> = r.body["included"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "roles")
        .collect();
    let mut ids: Vec<&str> = roles_included.iter().map(|i| i["id"].as_str().unwrap()).collect();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "each role once");
    assert!(
        r.body["links"]["self"].as_str().unwrap().contains("include=roles"),
        "links keep include"
    );

    // sparse fieldsets, for users and for what is included
    let r = api
        .get(&format!(
            "/api/users/{u}?fields[users]=username,roles&include=roles&fields[roles]="
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let d = &r.body["data"];
    assert_eq!(
        d["attributes"],
        json!({"username": "jdoe", "roles": ["User Manager", "User"]})
    );
    assert!(d["relationships"].get("organizations").is_none() && d["relationships"].get("roles").is_some());
    assert!(
        r.body["included"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i.get("attributes").is_none())
    );
    let r = api.get("/api/users?fields[users]=email").await;
    assert_eq!(r.status, 200, "{}", r.text);
    for d in r.body["data"].as_array().unwrap() {
        assert_eq!(d["attributes"].as_object().unwrap().len(), 1, "{d}");
        assert!(d.get("relationships").is_none(), "{d}");
    }

    // the relationship endpoints: read and replace
    let rel = format!("/api/users/{u}/relationships/roles");
    let r = api.get(&rel).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["links"]["self"], rel);
    let r = api
        .send("PATCH", &rel, Some(json!({"data": [{"type": "roles", "id": "user"}]})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"], json!([{"type": "roles", "id": "user"}]));
    assert_eq!(app.user(u).await.roles, vec![muster_domain::Role::User]);
    let r = api
        .send("PATCH", &rel, Some(json!({"data": [{"type": "roles", "id": "boss"}]})))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);

    let rel = format!("/api/users/{u}/relationships/organizations");
    let r = api
        .send(
            "PATCH",
            &rel,
            Some(json!({"data": [{"type": "organizations", "id": main.to_string()}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // the key acts in Main: the membership of Branch, outside it, is kept (as with the attribute)
    let r = api.get(&rel).await;
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{}", r.text);
    assert!(data.contains(&json!({"type": "organizations", "id": branch.to_string()})));

    let r = api
        .send(
            "PATCH",
            &rel,
            Some(json!({"data": [{"type": "organizations", "id": "999999"}]})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.pointer(), "/data/0/id");

    // nobody leaves the organization their key acts in: their own key would stop working
    let admin = app.user_by_name("admin").await;
    let r = api
        .send(
            "PATCH",
            &format!("/api/users/{}/relationships/organizations", admin.id),
            Some(json!({"data": [{"type": "organizations", "id": branch.to_string()}]})),
        )
        .await;
    assert!(r.status == 403 || r.status == 422, "{}", r.text);
    let r = api
        .send(
            "PATCH",
            &format!("/api/users/{}", admin.id),
            Some(json!({"data": {"type": "users", "id": admin.id.to_string(), "attributes": {"organizations": []}}})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.pointer(), "/data/attributes/organizations");
    assert_eq!(api.get("/api/userprofile").await.status, 200, "the key still works");

    // PATCH of the user with the relationship; attribute and relationship must agree when both are sent
    let r = api
        .send(
            "PATCH",
            &format!("/api/users/{u}"),
            Some(json!({"data": {"type": "users", "id": u.to_string(),
                "relationships": {"roles": {"data": [{"type": "roles", "id": "user_manager"}]}}}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["attributes"]["roles"], json!(["User Manager"]));
    let r = api
        .send(
            "PATCH",
            &format!("/api/users/{u}"),
            Some(
                json!({"data": {"type": "users", "id": u.to_string(), "attributes": {"roles": ["User"]},
                "relationships": {"roles": {"data": [{"type": "roles", "id": "administrator"}]}}}}),
            ),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.pointer(), "/data/relationships/roles");

    // what the relationships point at can be read on its own
    let r = api.get("/api/roles").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 3);
    let r = api.get("/api/roles/user_manager").await;
    assert_eq!(r.body["data"]["attributes"]["name"], "User Manager", "{}", r.text);
    assert_eq!(api.get("/api/roles/boss").await.status, 404);
    let r = api.get(&format!("/api/organizations/{main}")).await;
    assert_eq!(r.body["data"]["attributes"]["name"], "Main", "{}", r.text);
    assert_eq!(
        api.get(&format!("/api/organizations/{branch}")).await.status,
        404,
        "not a member of Branch"
    );

    // POST with relationships
    let r = api
        .post(
            "/api/users",
            json!({"data": {"type": "users", "attributes": {"username": "rel1", "email": "rel1@example.com",
                "firstName": "Rel", "lastName": "One"},
                "relationships": {"roles": {"data": [{"type": "roles", "id": "user_manager"}]},
                    "organizations": {"data": [{"type": "organizations", "id": main.to_string()}]}}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["data"]["attributes"]["roles"], json!(["User Manager"]));
    assert_eq!(r.body["data"]["attributes"]["organizations"], json!(["Main"]));
}

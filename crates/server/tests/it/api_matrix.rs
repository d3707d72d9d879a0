//! Every endpoint × anonymous, User, User Manager, an administrator of another
//! organization, and Administrator: each cell's status, and no cell leaks data.

use serde_json::{Value, json};

use crate::api_client::Api;
use crate::support::roles;
use crate::support::{TestApp, TestDb};

const WHO: [&str; 5] = ["anonymous", "user", "manager", "other-admin", "admin"];
/// Nothing about these may reach anyone outside organization Main.
const SECRETS: [&str; 3] = ["zed-target", "zed-target@example.com", "Main-only record"];

struct Case {
    method: &'static str,
    path: String,
    body: fn(&str) -> Option<Value>,
    /// In the order of [`WHO`].
    expect: [u16; 5],
}

fn none(_: &str) -> Option<Value> {
    None
}

fn new_user(who: &str) -> Option<Value> {
    Some(json!({"data": {"type": "users", "attributes": {
        "username": format!("made-by-{who}"), "email": format!("made-by-{who}@example.com"),
        "firstName": "Made", "lastName": "ByApi", "password": "Quiet-Lantern-Orchard-73",
        "roles": ["User"]
    }}}))
}

fn new_org(who: &str) -> Option<Value> {
    Some(json!({"data": {"type": "organizations", "attributes": {"name": format!("Org of {who}")}}}))
}

async fn matrix(app: TestApp) {
    app.create_org("Acme").await;
    let actors = roles::actors(&app, "actor").await;
    let other = roles::actor_in(&app, "other-admin", "Administrator", &["Acme"]).await;
    let (user, manager, admin) = (
        roles::by_role(&actors, "User"),
        roles::by_role(&actors, "User Manager"),
        roles::by_role(&actors, "Administrator"),
    );
    let target = app.create_user("zed-target", &["User"]).await;
    let acme_user = app.create_user_in("acme-user", &["User"], &["Acme"]).await;
    let anonymous = Api::new(&app, None);
    // in the order of WHO
    let apis = [&anonymous, &user.api, &manager.api, &other.api, &admin.api];
    // a record in Main, made by the admin
    let r = apis[4]
        .post(
            "/api/records",
            json!({"data": {"type": "records", "attributes": {"kind": "contact", "title": "Main-only record", "ownerId": target.id}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let record = r.body["data"]["id"].as_str().unwrap().to_owned();

    let t = target.id;
    let cases = vec![
        Case {
            method: "GET",
            path: "/api/users?filter[view]=all".into(),
            body: none,
            expect: [401, 403, 200, 200, 200],
        },
        Case {
            method: "GET",
            path: format!("/api/users/{t}"),
            body: none,
            expect: [401, 403, 200, 404, 200],
        },
        Case {
            method: "GET",
            path: format!("/api/users/{}", acme_user.id),
            body: none,
            expect: [401, 403, 404, 200, 404],
        },
        Case {
            method: "POST",
            path: "/api/users".into(),
            body: new_user,
            expect: [401, 403, 403, 201, 201],
        },
        Case {
            method: "POST",
            path: format!("/api/users/{t}/disable"),
            body: none,
            expect: [401, 403, 200, 404, 200],
        },
        Case {
            method: "POST",
            path: format!("/api/users/{t}/enable"),
            body: none,
            expect: [401, 403, 200, 404, 200],
        },
        Case {
            method: "POST",
            path: format!("/api/users/{t}/activate"),
            body: none,
            expect: [401, 403, 200, 404, 200],
        },
        Case {
            method: "POST",
            path: format!("/api/users/{t}/api-key"),
            body: none,
            expect: [401, 403, 403, 404, 201],
        },
        Case {
            method: "DELETE",
            path: format!("/api/users/{t}/api-key"),
            body: none,
            expect: [401, 403, 403, 404, 204],
        },
        Case {
            method: "GET",
            path: "/api/userprofile".into(),
            body: none,
            expect: [401, 200, 200, 200, 200],
        },
        Case {
            method: "GET",
            path: "/api/organizations".into(),
            body: none,
            expect: [401, 200, 200, 200, 200],
        },
        Case {
            method: "POST",
            path: "/api/organizations".into(),
            body: new_org,
            expect: [401, 403, 403, 201, 201],
        },
        Case {
            method: "GET",
            path: "/api/records".into(),
            body: none,
            expect: [401, 403, 403, 200, 200],
        },
        Case {
            method: "GET",
            path: format!("/api/records/{record}"),
            body: none,
            expect: [401, 403, 403, 404, 200],
        },
        Case {
            method: "PATCH",
            path: format!("/api/records/{record}"),
            body: |_| Some(json!({"data": {"type": "records", "attributes": {"title": "Main-only record, renamed"}}})),
            expect: [401, 403, 403, 404, 200],
        },
    ];
    let mut failures = Vec::new();
    for case in &cases {
        for (i, api) in apis.iter().enumerate() {
            let who = WHO[i];
            let r = api.send(case.method, &case.path, (case.body)(who)).await;
            if r.status != case.expect[i] {
                failures.push(format!(
                    "{} {} as {who}: {} (expected {}): {}",
                    case.method, case.path, r.status, case.expect[i], r.text
                ));
            }
            let leaks_allowed = r.status < 300 && (i == 2 || i == 4);
            if !leaks_allowed {
                for s in SECRETS {
                    if r.text.contains(s) {
                        failures.push(format!(
                            "{} {} as {who} leaks {s:?}: {}",
                            case.method, case.path, r.text
                        ));
                    }
                }
            }
        }
    }
    // records: the other organization's administrator cannot give one to a Main user
    let r = apis[3]
        .post(
            "/api/records",
            json!({"data": {"type": "records", "attributes": {"kind": "task", "title": "x", "ownerId": t.to_string()}}}),
        )
        .await;
    if r.status != 422 || r.pointer() != "/data/attributes/ownerId" {
        failures.push(format!(
            "POST /api/records for a Main owner as other-admin: {} {}",
            r.status, r.text
        ));
    }
    // oneself: a user manages their own key; nobody disables themself
    let r = apis[1]
        .post_empty(&format!("/api/users/{}/api-key", user.user.id))
        .await;
    if r.status != 201 {
        failures.push(format!("own key as user: {} {}", r.status, r.text));
    }
    let r = apis[4]
        .post_empty(&format!("/api/users/{}/disable", admin.user.id))
        .await;
    if r.status != 403 {
        failures.push(format!("disable oneself: {} {}", r.status, r.text));
    }
    // lists exclude other organizations
    let r = apis[3].get("/api/organizations").await;
    if r.text.contains("\"Main\"") {
        failures.push(format!("other-admin sees Main: {}", r.text));
    }
    let r = apis[4].get("/api/users?filter[view]=all&page[size]=100").await;
    if r.text.contains("acme-user") || !r.text.contains("zed-target") {
        failures.push(format!("admin's list: {}", r.text));
    }
    assert!(
        failures.is_empty(),
        "{} failing cells:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn matrix_sqlite() {
    matrix(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn matrix_postgres() {
    matrix(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

//! Who may act on whom: every actor role × target role × action, through the
//! API and through the UI, and each mass action. The expected outcome of each
//! cell is written out here by hand, not asked of the rule under test. A
//! refused cell must also leave the target exactly as it was, and a refused
//! password change must not let anyone sign in with the new password.

use serde_json::{Value, json};

use crate::api_client::{Api, key_for};
use crate::support::roles::{self, TARGET_ROLES};
use crate::support::{Client, PASSWORD, TestApp, TestDb};
use muster_domain::AuthStatus;
use muster_store::users::User;

const NEW_PASSWORD: &str = "Taken-Over-Walrus-Canyon-91";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    SetPassword,
    Reset,
    Enable,
    Disable,
    Activate,
    Delete,
    GenerateKey,
    RevokeKey,
    Edit,
}

const ACTS: [Act; 9] = [
    Act::SetPassword,
    Act::Reset,
    Act::Enable,
    Act::Disable,
    Act::Activate,
    Act::Delete,
    Act::GenerateKey,
    Act::RevokeKey,
    Act::Edit,
];

/// The contract (DESIGN §3 and issue 18), cell by cell.
fn allowed(actor: &str, target: &str, act: Act) -> bool {
    use Act::*;
    match (actor, target) {
        // a plain user acts on nobody from the back office
        ("User", _) => false,
        // nobody disables, deletes or resets themself, or sets their own password without the current one
        (_, "self") => matches!(act, Enable | Activate | Edit),
        ("Administrator", _) => true,
        // a User Manager never acts on an Administrator
        ("User Manager", "Administrator") => false,
        ("User Manager", _) => matches!(act, SetPassword | Reset | Enable | Disable | Activate | Edit),
        _ => unreachable!(),
    }
}

/// What may not change when a cell is refused.
fn fingerprint(u: &User) -> String {
    format!(
        "{}|{}|{}|{:?}|{}|{}|{:?}",
        u.username, u.email, u.enabled, u.auth_status, u.password_hash, u.first_name, u.roles
    )
}

async fn set_status(app: &TestApp, id: i64, status: AuthStatus) {
    let mut c = app.store().conn().await.unwrap();
    muster_store::users::set_auth_status(&mut c, id, status, 1)
        .await
        .unwrap();
}

async fn set_enabled(app: &TestApp, id: i64, on: bool) {
    let mut c = app.store().conn().await.unwrap();
    muster_store::users::set_enabled(&mut c, id, on, 1).await.unwrap();
}

async fn find(app: &TestApp, id: i64) -> Option<User> {
    let mut c = app.store().conn().await.unwrap();
    muster_store::users::get(&mut c, id).await.unwrap()
}

async fn has_key(app: &TestApp, id: i64) -> bool {
    let mut c = app.store().conn().await.unwrap();
    !muster_store::api_keys::for_user(&mut c, id).await.unwrap().is_empty()
}

/// Put the target in the state where `act` would change something.
async fn prepare(app: &TestApp, target: &User, act: Act) {
    match act {
        Act::Enable => set_enabled(app, target.id, false).await,
        Act::Activate => set_status(app, target.id, AuthStatus::Locked).await,
        Act::RevokeKey => {
            key_for(app, target.id, None).await;
        }
        _ => {}
    }
}

/// Undo what `prepare` did to an actor who is their own target.
async fn restore(app: &TestApp, target: &User) {
    set_enabled(app, target.id, true).await;
    set_status(app, target.id, AuthStatus::Active).await;
}

async fn via_api(api: &Api, target: &User, act: Act) -> u16 {
    let id = target.id;
    let r = match act {
        Act::SetPassword => {
            api.post(&format!("/api/users/{id}/password"), json!({"password": NEW_PASSWORD}))
                .await
        }
        Act::Reset => api.post_empty(&format!("/api/users/{id}/reset-password")).await,
        Act::Enable => api.post_empty(&format!("/api/users/{id}/enable")).await,
        Act::Disable => api.post_empty(&format!("/api/users/{id}/disable")).await,
        Act::Activate => api.post_empty(&format!("/api/users/{id}/activate")).await,
        Act::Delete => api.delete(&format!("/api/users/{id}")).await,
        Act::GenerateKey => api.post_empty(&format!("/api/users/{id}/api-key")).await,
        Act::RevokeKey => api.delete(&format!("/api/users/{id}/api-key")).await,
        Act::Edit => {
            api.send(
                "PATCH",
                &format!("/api/users/{id}"),
                Some(json!({"data": {"type": "users", "id": id.to_string(),
                    "attributes": {"email": format!("taken-{id}@attacker.example")}}})),
            )
            .await
        }
    };
    r.status
}

async fn via_ui(c: &Client, target: &User, act: Act) -> u16 {
    let id = target.id;
    let page = "/profile";
    match act {
        Act::SetPassword => {
            let form = c.get(&format!("/admin/users/{id}/password")).await.status().as_u16();
            let post = c
                .post(
                    page,
                    &format!("/admin/users/{id}/password"),
                    &[("password", NEW_PASSWORD)],
                )
                .await
                .status()
                .as_u16();
            // the form and the change answer alike
            if (form == 200) != (post == 303) {
                return 1000 + form;
            }
            post
        }
        Act::Reset | Act::Enable | Act::Disable | Act::Activate | Act::Delete | Act::GenerateKey | Act::RevokeKey => {
            let action = match act {
                Act::Reset => "reset-password",
                Act::Enable => "enable",
                Act::Disable => "disable",
                Act::Activate => "activate",
                Act::Delete => "delete",
                Act::GenerateKey => "api-key",
                _ => "api-key/revoke",
            };
            c.post(page, &format!("/admin/users/{id}/{action}"), &[])
                .await
                .status()
                .as_u16()
        }
        Act::Edit => {
            let form = c.get(&format!("/admin/users/{id}/edit")).await.status().as_u16();
            let email = format!("taken-{id}@attacker.example");
            let mut fields = vec![
                ("username", target.username.clone()),
                ("email", email),
                ("first_name", target.first_name.clone()),
                ("last_name", target.last_name.clone()),
                ("enabled", "1".to_owned()),
                ("organizations", "Main".to_owned()),
            ];
            fields.extend(target.roles.iter().map(|r| ("roles", r.name().to_owned())));
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let post = c
                .post(page, &format!("/admin/users/{id}/edit"), &fields)
                .await
                .status()
                .as_u16();
            if (form == 200) != (post == 303) {
                return 1000 + form;
            }
            post
        }
    }
}

fn ok_status(surface: &str, act: Act, status: u16) -> bool {
    match (surface, act) {
        ("api", Act::GenerateKey) => status == 201,
        ("api", Act::Delete | Act::RevokeKey) => status == 204,
        ("api", _) => status == 200,
        ("ui", Act::GenerateKey) => status == 200,
        _ => status == 303,
    }
}

async fn matrix(app: TestApp) {
    let actors = roles::actors(&app, "actor").await;
    let mut failures = Vec::new();
    let mut n = 0;
    for surface in ["api", "ui"] {
        for a in &actors {
            let (role, api, client) = (a.role, &a.api, &a.ui);
            for target_role in TARGET_ROLES {
                for act in ACTS {
                    let is_self = target_role == "self";
                    if is_self && matches!(act, Act::GenerateKey | Act::RevokeKey) {
                        // one's own key is managed on /profile; replacing it here would end this client
                        continue;
                    }
                    if !is_self {
                        n += 1;
                    }
                    let target = roles::target(&app, a, &format!("t{n}"), target_role).await;
                    if !is_self {
                        prepare(&app, &target, act).await;
                    }
                    let before = find(&app, target.id).await.unwrap();
                    let keyed = has_key(&app, target.id).await;
                    let status = match surface {
                        "api" => via_api(api, &before, act).await,
                        _ => via_ui(client, &before, act).await,
                    };
                    let after = find(&app, target.id).await;
                    let cell = format!("{surface}: {role} {act:?} on {target_role}");
                    let expect = allowed(role, target_role, act);
                    if expect {
                        if !ok_status(surface, act, status) {
                            failures.push(format!("{cell}: expected success, got {status}"));
                        }
                    } else {
                        if status != 403 {
                            failures.push(format!("{cell}: expected 403, got {status}"));
                        }
                        match &after {
                            Some(a) if fingerprint(a) == fingerprint(&before) => {}
                            other => failures.push(format!("{cell}: refused but the target changed: {other:?}")),
                        }
                        if has_key(&app, target.id).await != keyed {
                            failures.push(format!("{cell}: refused but the target's key changed"));
                        }
                        if act == Act::SetPassword && !is_self {
                            let c = app.client();
                            if c.login(&before.username, NEW_PASSWORD).await.status() == 303 {
                                failures.push(format!("{cell}: TAKEOVER: signed in with the new password"));
                            }
                        }
                    }
                    if is_self && after.is_some() {
                        restore(&app, &before).await;
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cells:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_actor_target_action_cell_sqlite() {
    matrix(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_actor_target_action_cell_postgres() {
    matrix(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

/// The finding as reported: the User Manager's password set on an
/// Administrator, then the Administrator's sign-in with it.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_manager_cannot_take_over_an_administrator() {
    let app = TestApp::spawn().await;
    let manager = app.create_user("um", &["User Manager"]).await;
    let admin = app.user_by_name("admin").await;
    let api = Api::new(&app, Some(&key_for(&app, manager.id, None).await));
    let r = api
        .post(
            &format!("/api/users/{}/password", admin.id),
            json!({"password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.detail().contains("only an administrator"), "{}", r.text);
    let ui = app.signed_in("um", PASSWORD).await;
    let page = ui.get(&format!("/admin/users/{}/password", admin.id)).await;
    assert_eq!(page.status(), 403);
    let r = ui
        .post(
            "/profile",
            &format!("/admin/users/{}/password", admin.id),
            &[("password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(app.client().login("admin", NEW_PASSWORD).await.status(), 401);
    // the admin page offers the User Manager none of the actions on an administrator
    let html = ui.get_text(&format!("/admin/users/{}", admin.id)).await;
    for id in [
        "disable-user",
        "change-password-open",
        "reset-password",
        "edit-user",
        "delete-user",
    ] {
        assert!(
            !html.contains(&format!("id=\"{id}\"")),
            "{id} offered on an administrator's page"
        );
    }
    let grid = ui.get_text("/admin/users?view=all").await;
    // the row menu's View carries the grid (`?back=`): find the row by its user id
    let row_mark = format!("data-user-id=\"{}\"", admin.id);
    let row = grid
        .split("<tr")
        .find(|r| r.contains(&row_mark))
        .expect("the admin's row");
    for class in ["row-disable", "row-reset", "row-edit", "row-delete"] {
        assert!(!row.contains(class), "{class} offered on the administrator's grid row");
    }
    // the admin's key keeps working after the refused disable
    let admin_api = Api::new(&app, Some(&key_for(&app, admin.id, None).await));
    assert_eq!(
        api.post_empty(&format!("/api/users/{}/disable", admin.id)).await.status,
        403
    );
    assert_eq!(admin_api.get("/api/userprofile").await.status, 200);
}

async fn mass(app: TestApp) {
    let manager = app.create_user("um", &["User Manager"]).await;
    let admin2 = app.create_user("second-admin", &["Administrator"]).await;
    let plain = app.create_user("plain", &["User"]).await;
    let um = Api::new(&app, Some(&key_for(&app, manager.id, None).await));
    let both = json!({"ids": [admin2.id, plain.id]});
    // mass disable: the administrator is skipped and counted, the user is disabled
    let r = um.post("/api/users/mass/disable", both.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["meta"], json!({"affected": 1, "refused": 1}), "{}", r.text);
    assert!(find(&app, admin2.id).await.unwrap().enabled);
    assert!(!find(&app, plain.id).await.unwrap().enabled);
    // by filter, as reported: filter[username] of the administrator
    let r = um
        .post(
            "/api/users/mass/disable",
            json!({"filter": {"username": "second-admin"}}),
        )
        .await;
    assert_eq!(r.body["meta"], json!({"affected": 0, "refused": 1}), "{}", r.text);
    assert!(find(&app, admin2.id).await.unwrap().enabled);
    // mass enable of a disabled administrator: refused too
    set_enabled(&app, admin2.id, false).await;
    let r = um.post("/api/users/mass/enable", both.clone()).await;
    assert_eq!(r.body["meta"], json!({"affected": 1, "refused": 1}), "{}", r.text);
    assert!(!find(&app, admin2.id).await.unwrap().enabled);
    set_enabled(&app, admin2.id, true).await;
    // mass reset: the administrator keeps their password and status
    let before = find(&app, admin2.id).await.unwrap();
    let r = um.post("/api/users/mass/reset-password", both.clone()).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(
        r.body["meta"],
        json!({"affected": 2, "refused": 1}),
        "the selection, fixed, and the administrator refused: {}",
        r.text
    );
    crate::csv_support::run_jobs(&app).await;
    assert_eq!(fingerprint(&find(&app, admin2.id).await.unwrap()), fingerprint(&before));
    // the UI says so
    set_enabled(&app, plain.id, true).await;
    let ui = app.signed_in("um", PASSWORD).await;
    let r = ui
        .post(
            "/admin/users",
            "/admin/users/mass",
            &[
                ("action", "disable"),
                ("id", &admin2.id.to_string()),
                ("id", &plain.id.to_string()),
                ("query", "view=all"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let flash = flash_of(&r);
    assert!(flash.contains("1 user(s) were disabled"), "{flash}");
    assert!(flash.contains("1 administrator(s) skipped"), "{flash}");
    assert!(find(&app, admin2.id).await.unwrap().enabled);
    let r = ui
        .post(
            "/admin/users",
            "/admin/users/mass/reset-password",
            &[("ids", &admin2.id.to_string())],
        )
        .await;
    assert_eq!(r.status(), 303);
    crate::csv_support::run_jobs(&app).await;
    let page = ui.get_text(&crate::support::location(&r)).await;
    assert!(page.contains("1 administrator(s) skipped"), "{page}");
    assert_eq!(fingerprint(&find(&app, admin2.id).await.unwrap()), fingerprint(&before));
    // an administrator's mass action reaches administrators
    let admin = app.user_by_name("admin").await;
    let a = Api::new(&app, Some(&key_for(&app, admin.id, None).await));
    let r = a.post("/api/users/mass/disable", json!({"ids": [admin2.id]})).await;
    assert_eq!(r.body["meta"], json!({"affected": 1, "refused": 0}), "{}", r.text);
}

fn flash_of(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("muster_flash="))
        .and_then(|v| v.trim_start_matches("muster_flash=").split(';').next())
        .and_then(|raw| serde_urlencoded::from_str::<Vec<(String, String)>>(raw).ok())
        .and_then(|kv| kv.into_iter().find(|(k, _)| k == "m").map(|(_, m)| m))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn mass_actions_skip_and_count_what_the_rule_refuses() {
    mass(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mass_actions_skip_and_count_what_the_rule_refuses_postgres() {
    mass(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

/// A User Manager's PATCH that would change roles or organizations is refused
/// with a pointer, not ignored; one that names them unchanged passes.
#[tokio::test(flavor = "multi_thread")]
async fn a_patch_with_fields_the_actor_may_not_change_is_refused() {
    let app = TestApp::spawn().await;
    app.create_org("Acme").await;
    let manager = app.create_user("um", &["User Manager"]).await;
    let plain = app.create_user("plain", &["User"]).await;
    let um = Api::new(&app, Some(&key_for(&app, manager.id, None).await));
    let patch =
        |attributes: Value| json!({"data": {"type": "users", "id": plain.id.to_string(), "attributes": attributes}});
    let path = format!("/api/users/{}", plain.id);
    let r = um
        .send("PATCH", &path, Some(patch(json!({"roles": ["Administrator"]}))))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.pointer(), "/data/attributes/roles");
    let r = um
        .send("PATCH", &path, Some(patch(json!({"organizations": ["Main", "Acme"]}))))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.pointer(), "/data/attributes/organizations");
    let r = um
        .send(
            "PATCH",
            &path,
            Some(patch(
                json!({"roles": ["User"], "organizations": ["Main"], "firstName": "Renamed"}),
            )),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after = find(&app, plain.id).await.unwrap();
    assert_eq!(after.first_name, "Renamed");
    assert_eq!(after.roles, vec![muster_domain::Role::User]);
}

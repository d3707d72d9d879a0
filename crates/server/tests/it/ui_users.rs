//! The back-office over HTTP: the grid and its views, every state change of
//! the user page and the row menu, mass actions, saved views, forms, the audit
//! pages; each with its CSRF check and the roles that are refused.

use muster_domain::AuthStatus;
use muster_store::users::User;

use crate::support::{ADMIN_PASSWORD, Client, PASSWORD, TestApp, TestDb, location};

fn row_names(html: &str) -> Vec<String> {
    html.split("data-username=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next().map(str::to_owned))
        .collect()
}

fn total(html: &str) -> i64 {
    let start = html.find("id=\"total-count\">").expect("total count") + "id=\"total-count\">".len();
    html[start..].split('<').next().unwrap().parse().unwrap()
}

async fn records(app: &TestApp, owner: &User, kinds: &[&str]) {
    let mut conn = app.store().conn().await.unwrap();
    let org = muster_store::organizations::find_by_name(&mut conn, "Main")
        .await
        .unwrap()
        .unwrap();
    for (i, k) in kinds.iter().enumerate() {
        muster_store::records::insert(&mut conn, k, &format!("{k} {i}"), owner.id, org.id, 1)
            .await
            .unwrap();
    }
}

async fn audit_actions(app: &TestApp) -> Vec<(String, String, Option<String>)> {
    let mut conn = app.store().conn().await.unwrap();
    muster_store::audit::list(&mut conn, &Default::default(), 200, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.target_username, e.after_json))
        .collect()
}

async fn set_status(app: &TestApp, id: i64, s: AuthStatus) {
    let mut conn = app.store().conn().await.unwrap();
    muster_store::users::set_auth_status(&mut conn, id, s, 1).await.unwrap();
}

async fn set_enabled(app: &TestApp, id: i64, on: bool) {
    let mut conn = app.store().conn().await.unwrap();
    muster_store::users::set_enabled(&mut conn, id, on, 1).await.unwrap();
}

/// Users in every state: the built-in views, the filters and the sort.
async fn views_and_filters(app: &TestApp) {
    let alice = app.create_user("alice", &["User"]).await;
    let bob = app.create_user("bob", &["User Manager"]).await;
    let carol = app.create_user("carol", &["User"]).await;
    let dave = app.create_user("dave", &["User"]).await;
    let erin = app.create_user("erin", &["User"]).await;
    set_enabled(app, bob.id, false).await;
    set_status(app, carol.id, AuthStatus::Locked).await;
    set_status(app, dave.id, AuthStatus::PasswordReset).await;
    // disabled and locked: in "disabled", not in "cannot log in"
    set_enabled(app, erin.id, false).await;
    set_status(app, erin.id, AuthStatus::Locked).await;
    let c = app.signed_in("admin", ADMIN_PASSWORD).await;
    let names = |html: &str| {
        let mut v = row_names(html);
        v.sort();
        v
    };
    let page = c.get_text("/admin/users").await;
    assert_eq!(
        names(&page),
        ["admin", "alice", "carol", "dave"],
        "active users is the default"
    );
    let page = c.get_text("/admin/users?view=all").await;
    assert_eq!(names(&page), ["admin", "alice", "bob", "carol", "dave", "erin"]);
    assert_eq!(total(&page), 6);
    let page = c.get_text("/admin/users?view=disabled").await;
    assert_eq!(names(&page), ["bob", "erin"]);
    let page = c.get_text("/admin/users?view=cannot_login").await;
    assert_eq!(names(&page), ["carol", "dave"]);

    // filters combine with the view; the state stays in the URL
    let page = c
        .get_text("/admin/users?view=all&status=locked&status=password_reset")
        .await;
    assert_eq!(names(&page), ["carol", "dave", "erin"]);
    let page = c.get_text("/admin/users?view=all&role=User+Manager").await;
    assert_eq!(names(&page), ["bob"]);
    let page = c.get_text("/admin/users?view=all&q=CAR").await;
    assert_eq!(names(&page), ["carol"]);
    let page = c
        .get_text("/admin/users?view=all&first_name=firsta&email=example")
        .await;
    assert_eq!(names(&page), ["alice"]);
    let page = c.get_text("/admin/users?view=all&username=AV").await;
    assert_eq!(names(&page), ["dave"]);
    let page = c.get_text("/admin/users?view=all&enabled=no").await;
    assert_eq!(names(&page), ["bob", "erin"]);
    let page = c
        .get_text("/admin/users?view=all&created_from=2000-01-01&created_to=2999-12-31")
        .await;
    assert_eq!(total(&page), 6);
    // the fixtures above changed bob, carol, dave and erin at time 1 (1970)
    let page = c.get_text("/admin/users?view=all&updated_to=2000-01-01").await;
    assert_eq!(names(&page), ["bob", "carol", "dave", "erin"]);
    let page = c.get_text("/admin/users?view=all&updated_from=2000-01-01").await;
    assert_eq!(names(&page), ["admin", "alice"]);
    let page = c.get_text("/admin/users?view=all&org=999").await;
    assert_eq!(total(&page), 0, "an organization outside the admin's shows nobody");

    // sort on a column, both ways; page size and the total count
    let page = c.get_text("/admin/users?view=all&sort=-username").await;
    assert_eq!(row_names(&page), ["erin", "dave", "carol", "bob", "alice", "admin"]);
    assert!(page.contains("aria-sort=\"descending\""));
    let page = c.get_text("/admin/users?view=all&sort=username&size=10").await;
    assert_eq!(row_names(&page)[0], "admin");
    let page = c.get_text("/admin/users?view=all&sort=username&size=10&page=2").await;
    assert!(row_names(&page).is_empty());
    assert_eq!(total(&page), 6, "the count is of all matching users");

    // columns: only the chosen ones
    let page = c.get_text("/admin/users?view=all&col=username&col=email").await;
    assert!(page.contains("id=\"sort-email\"") && page.contains("id=\"sort-username\""));
    assert!(!page.contains("id=\"sort-first_name\"") && !page.contains("td class=\"roles\""));
    let page = c.get_text("/admin/users?view=all&col=last_login&col=updated_at").await;
    assert!(page.contains("td class=\"last_login\">Never") && page.contains("td class=\"updated_at\""));

    // nonsense in the URL is ignored and named, never a 500
    let r = c
        .get("/admin/users?view=bogus&sort=password&size=3&page=x&status=zzz&created_from=tomorrow&org=abc")
        .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("unknown view") && page.contains("not a date"));
    let _ = alice;
}

#[tokio::test(flavor = "multi_thread")]
async fn grid_views_filters_sort_and_columns() {
    let app = TestApp::spawn().await;
    views_and_filters(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn grid_views_filters_sort_and_columns_on_postgres() {
    let app = TestApp::spawn_on(TestDb::postgres().await).await;
    views_and_filters(&app).await;
}

/// Enable, disable, activate from the page (and the row menu's `back`).
#[tokio::test(flavor = "multi_thread")]
async fn enable_disable_activate_with_csrf_and_audit() {
    let app = TestApp::spawn().await;
    let u = app.create_user("jdoe", &["User"]).await;
    let victim = app.signed_in("jdoe", PASSWORD).await;
    let c = app.signed_in("admin", ADMIN_PASSWORD).await;
    let page = format!("/admin/users/{}", u.id);

    // no token, a wrong token: refused, nothing changed
    assert_eq!(c.post_raw(&format!("{page}/disable"), &[]).await.status(), 403);
    assert_eq!(
        c.post_raw(&format!("{page}/disable"), &[("csrf", "x".repeat(43).as_str())])
            .await
            .status(),
        403
    );
    assert!(app.user(u.id).await.enabled);

    let r = c.post(&page, &format!("{page}/disable"), &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), page);
    assert!(!app.user(u.id).await.enabled);
    assert_eq!(victim.get("/profile").await.status(), 303, "their session ended");
    let html = c.get_text(&page).await;
    assert!(html.contains("User jdoe was disabled."));
    assert!(html.contains("id=\"enable-user\"") && !html.contains("id=\"disable-user\""));

    // from the grid's row menu: back to the grid as it was
    let back = "/admin/users?view=disabled&sort=-username";
    let r = c.post(back, &format!("{page}/enable"), &[("back", back)]).await;
    assert_eq!((r.status().as_u16(), location(&r)), (303, back.to_owned()));
    assert!(app.user(u.id).await.enabled);
    // a foreign back is not followed
    let r = c
        .post(&page, &format!("{page}/enable"), &[("back", "https://evil.example/")])
        .await;
    assert_eq!(location(&r), page);
    let r = c
        .post(
            &page,
            &format!("{page}/enable"),
            &[("back", "/admin/users\r\nSet-Cookie: x=1")],
        )
        .await;
    assert_eq!((r.status().as_u16(), location(&r)), (303, page.clone()), "never a 500");

    // Activate: offered only when locked
    assert!(!c.get_text(&page).await.contains("id=\"activate-user\""));
    set_status(&app, u.id, AuthStatus::Locked).await;
    let html = c.get_text(&page).await;
    assert!(html.contains("id=\"activate-user\""));
    let grid = c.get_text("/admin/users?view=all").await;
    assert!(grid.contains(&format!("/admin/users/{}/activate", u.id)));
    let r = c.post(&page, &format!("{page}/activate"), &[]).await;
    assert_eq!(r.status(), 303);
    let after = app.user(u.id).await;
    assert_eq!((after.auth_status, after.failed_login_count), (AuthStatus::Active, 0));
    // Activate on a user in password reset is refused with the reason
    set_status(&app, u.id, AuthStatus::PasswordReset).await;
    let r = c.post(&page, &format!("{page}/activate"), &[]).await;
    assert_eq!(r.status(), 303);
    assert!(c.get_text(&page).await.contains("they must set a new password"));
    assert_eq!(app.user(u.id).await.auth_status, AuthStatus::PasswordReset);

    let actions: Vec<String> = audit_actions(&app).await.into_iter().map(|a| a.0).collect();
    for a in ["user.disabled", "user.enabled", "user.activated"] {
        assert!(actions.contains(&a.to_owned()), "{a} in {actions:?}");
    }
    // history on the page
    let html = c.get_text(&page).await;
    assert!(html.contains("user.activated") && html.contains("user.disabled"));

    // oneself: no Disable, no Delete offered, and refused if forced
    let admin = app.user_by_name("admin").await;
    let me = format!("/admin/users/{}", admin.id);
    let html = c.get_text(&me).await;
    assert!(!html.contains("id=\"disable-user\"") && !html.contains("id=\"delete-user\""));
    let grid = c.get_text("/admin/users?view=all").await;
    assert!(!grid.contains(&format!("/admin/users/{}/disable", admin.id)));
    assert!(!grid.contains(&format!("/admin/users/{}/delete", admin.id)));
    assert_eq!(c.post(&me, &format!("{me}/disable"), &[]).await.status(), 403);
    assert_eq!(c.post(&me, &format!("{me}/delete"), &[]).await.status(), 403);
    assert!(app.user(admin.id).await.enabled);
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_is_refused_while_records_are_assigned_then_done_after_reassign() {
    delete_is_refused_while_records_are_assigned_then_done_after_reassign_flow(&TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_is_refused_while_records_are_assigned_then_done_after_reassign_on_postgres() {
    delete_is_refused_while_records_are_assigned_then_done_after_reassign_flow(
        &TestApp::spawn_on(TestDb::postgres().await).await,
    )
    .await;
}

async fn delete_is_refused_while_records_are_assigned_then_done_after_reassign_flow(app: &TestApp) {
    let u = app.create_user("jdoe", &["User"]).await;
    let heir = app.create_user("heir", &["User"]).await;
    records(app, &u, &["contact", "task", "contact"]).await;
    let c = app.signed_in("admin", ADMIN_PASSWORD).await;
    let page = format!("/admin/users/{}", u.id);
    let html = c.get_text(&page).await;
    assert!(html.contains("3 records are assigned (2 contact, 1 task)"));
    assert!(html.contains("Yes, Delete") && html.contains("id=\"reassign-records\""));

    assert_eq!(c.post_raw(&format!("{page}/delete"), &[]).await.status(), 403, "CSRF");
    let r = c.post(&page, &format!("{page}/delete"), &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("{page}#records"));
    let html = c.get_text(&page).await;
    assert!(
        html.contains("Cannot delete jdoe: 3 records are assigned (2 contact, 1 task)"),
        "{html}"
    );
    app.user(u.id).await;

    // reassign: to nobody, to themself, then to heir
    let r = c.post(&page, &format!("{page}/reassign"), &[("to", "nobody")]).await;
    assert_eq!(r.status(), 303);
    assert!(c.get_text(&page).await.contains("No user named"));
    c.post(&page, &format!("{page}/reassign"), &[("to", "jdoe")]).await;
    assert!(c.get_text(&page).await.contains("Cannot reassign"));
    let r = c.post(&page, &format!("{page}/reassign"), &[("to", "HEIR")]).await;
    assert_eq!(r.status(), 303);
    let html = c.get_text(&page).await;
    assert!(html.contains("3 record(s) were reassigned to heir."));
    assert!(html.contains("No records are assigned"));
    let heir_page = c.get_text(&format!("/admin/users/{}", heir.id)).await;
    assert!(heir_page.contains("3 records are assigned (2 contact, 1 task)"));

    // from the grid: back to the grid
    let back = "/admin/users?view=all";
    let r = c.post(back, &format!("{page}/delete"), &[("back", back)]).await;
    assert_eq!((r.status().as_u16(), location(&r)), (303, back.to_owned()));
    assert!(c.get_text(back).await.contains("User jdoe was deleted."));
    assert_eq!(c.get(&page).await.status(), 404);
    let actions: Vec<String> = audit_actions(app).await.into_iter().map(|a| a.0).collect();
    assert!(actions.contains(&"user.deleted".to_owned()) && actions.contains(&"user.records_reassigned".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn users_and_user_managers_are_refused_where_the_design_says() {
    let app = TestApp::spawn().await;
    let target = app.create_user("target", &["User"]).await;
    app.create_user("plain", &["User"]).await;
    app.create_user("manager", &["User Manager"]).await;
    let page = format!("/admin/users/{}", target.id);

    let plain = app.signed_in("plain", PASSWORD).await;
    for path in [
        "/admin/users",
        page.as_str(),
        "/admin/users/new",
        &format!("{page}/edit"),
        "/admin/audit",
        "/admin/login-attempts",
    ] {
        assert_eq!(plain.get(path).await.status(), 403, "GET {path}");
    }
    for action in ["disable", "enable", "activate", "delete", "reassign", "edit"] {
        let r = plain
            .post("/profile", &format!("{page}/{action}"), &[("to", "admin")])
            .await;
        assert_eq!(r.status(), 403, "plain user: {action}");
    }
    let r = plain
        .post("/profile", "/admin/users/mass", &[("action", "disable"), ("all", "1")])
        .await;
    assert_eq!(r.status(), 403);
    let r = plain.post("/profile", "/admin/users/views", &[("name", "x")]).await;
    assert_eq!(r.status(), 403);

    let m = app.signed_in("manager", PASSWORD).await;
    assert_eq!(m.get(&page).await.status(), 200);
    let html = m.get_text(&page).await;
    assert!(!html.contains("id=\"delete-user\"") && !html.contains("id=\"reassign-records\""));
    assert!(!m.get_text("/admin/users").await.contains("class=\"row-delete"));
    // may: disable, enable, edit (not roles), mass actions
    assert_eq!(m.post(&page, &format!("{page}/disable"), &[]).await.status(), 303);
    assert!(!app.user(target.id).await.enabled);
    assert_eq!(m.post(&page, &format!("{page}/enable"), &[]).await.status(), 303);
    let r = m
        .post(
            &page,
            &format!("{page}/edit"),
            &[
                ("username", "target"),
                ("email", "target@example.com"),
                ("first_name", "Renamed"),
                ("last_name", "Target"),
                ("enabled", "1"),
                ("roles", "Administrator"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let after = app.user(target.id).await;
    assert_eq!(after.first_name, "Renamed");
    assert_eq!(
        after.roles,
        vec![muster_domain::Role::User],
        "a manager does not assign roles"
    );
    // may not: edit an administrator (their email is the way to their account)
    let admin = app.user_by_name("admin").await;
    let admin_page = format!("/admin/users/{}", admin.id);
    assert!(!m.get_text(&admin_page).await.contains("id=\"edit-user\""));
    assert!(
        !m.get_text("/admin/users")
            .await
            .contains(&format!("/admin/users/{}/edit", admin.id))
    );
    assert_eq!(m.get(&format!("{admin_page}/edit")).await.status(), 403);
    let r = m
        .post(
            &page,
            &format!("{admin_page}/edit"),
            &[
                ("username", "admin"),
                ("email", "manager-owns-this@example.com"),
                ("first_name", "Admin"),
                ("last_name", "User"),
                ("enabled", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(app.user(admin.id).await.email, "admin@example.com");
    // may not: delete, reassign, create, audit
    assert_eq!(m.post(&page, &format!("{page}/delete"), &[]).await.status(), 403);
    assert_eq!(
        m.post(&page, &format!("{page}/reassign"), &[("to", "admin")])
            .await
            .status(),
        403
    );
    assert_eq!(m.get("/admin/users/new").await.status(), 403);
    assert_eq!(
        m.post(&page, "/admin/users/new", &[("username", "x")]).await.status(),
        403
    );
    assert_eq!(m.get("/admin/audit").await.status(), 403);
    assert_eq!(m.get("/admin/login-attempts").await.status(), 403);
    app.user(target.id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_of_another_organization_gets_not_found() {
    let app = TestApp::spawn().await;
    app.create_org("Other").await;
    let main_user = app.create_user("mainuser", &["User"]).await;
    app.create_user_in("otheradmin", &["Administrator"], &["Other"]).await;
    let other_user = app.create_user_in("otheruser", &["User"], &["Other"]).await;
    let c = app.signed_in("otheradmin", PASSWORD).await;
    let page = format!("/admin/users/{}", main_user.id);
    assert_eq!(c.get(&page).await.status(), 404);
    assert_eq!(c.get(&format!("{page}/edit")).await.status(), 404);
    let own = format!("/admin/users/{}", other_user.id);
    for action in ["disable", "activate", "delete", "reassign"] {
        let r = c.post(&own, &format!("{page}/{action}"), &[("to", "otheruser")]).await;
        assert_eq!(r.status(), 404, "{action}");
    }
    let r = c
        .post(
            &own,
            &format!("{page}/edit"),
            &[
                ("username", "hijack"),
                ("email", "h@example.com"),
                ("first_name", "H"),
                ("last_name", "H"),
            ],
        )
        .await;
    assert_eq!(r.status(), 404);
    // reassigning one's own user's records to a user outside: refused
    records(&app, &other_user, &["task"]).await;
    c.post(&own, &format!("{own}/reassign"), &[("to", "mainuser")]).await;
    assert!(c.get_text(&own).await.contains("No user named"));
    // the grid and "all matching" do not reach outside
    let grid = c.get_text("/admin/users?view=all").await;
    assert_eq!(row_names(&grid).len(), 2, "{:?}", row_names(&grid));
    let r = c
        .post(
            "/admin/users",
            "/admin/users/mass",
            &[("action", "disable"), ("all", "1"), ("query", "view=all")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(app.user(main_user.id).await.enabled);
    assert!(!app.user(other_user.id).await.enabled);
    let orig = app.user(main_user.id).await;
    assert_eq!(orig.username, "mainuser");
}

/// Mass Enable/Disable: a selection, all matching with exceptions, the actor skipped.
async fn mass_actions(app: &TestApp) {
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(app.create_user(&format!("mass{i}"), &["User"]).await.id);
    }
    let victim = app.signed_in("mass0", PASSWORD).await;
    let c = app.signed_in("admin", ADMIN_PASSWORD).await;
    let admin = app.user_by_name("admin").await;
    let id_s: Vec<String> = ids.iter().map(i64::to_string).collect();

    assert_eq!(
        c.post_raw("/admin/users/mass", &[("action", "disable"), ("id", &id_s[0])])
            .await
            .status(),
        403,
        "CSRF"
    );
    let r = c
        .post(
            "/admin/users",
            "/admin/users/mass",
            &[
                ("action", "disable"),
                ("id", &id_s[0]),
                ("id", &id_s[1]),
                ("query", "view=active"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/admin/users?view=active");
    assert!(c.get_text("/admin/users").await.contains("2 user(s) were disabled"));
    assert!(!app.user(ids[0]).await.enabled && !app.user(ids[1]).await.enabled);
    assert!(app.user(ids[2]).await.enabled);
    assert_eq!(
        victim.get("/profile").await.status(),
        303,
        "sessions of disabled users end"
    );

    // nothing ticked
    let r = c
        .post(
            "/admin/users",
            "/admin/users/mass",
            &[("action", "enable"), ("query", "view=all")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(c.get_text("/admin/users").await.contains("Select at least one user."));

    // all matching "mass" users, except mass3 unticked on the page shown; the admin is never touched
    let mut form: Vec<(&str, &str)> = vec![("action", "disable"), ("all", "1"), ("query", "view=all&q=mass")];
    for (i, s) in id_s.iter().enumerate() {
        if i == 3 {
            form.push(("except", s));
        } else {
            form.push(("id", s));
        }
    }
    c.post("/admin/users", "/admin/users/mass", &form).await;
    assert!(
        c.get_text("/admin/users").await.contains("3 user(s) were disabled"),
        "two were already disabled"
    );
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(app.user(*id).await.enabled, i == 3, "mass{i}");
    }
    // everyone, including the admin: the admin is skipped
    c.post(
        "/admin/users",
        "/admin/users/mass",
        &[("action", "disable"), ("all", "1"), ("query", "view=all")],
    )
    .await;
    assert!(c.get_text("/admin/users").await.contains("1 user(s) were disabled"));
    assert!(app.user(admin.id).await.enabled);
    c.post(
        "/admin/users",
        "/admin/users/mass",
        &[("action", "enable"), ("all", "1"), ("query", "view=disabled")],
    )
    .await;
    assert!(c.get_text("/admin/users").await.contains("6 user(s) were enabled"));
    let audit = audit_actions(app).await;
    let mass: Vec<_> = audit.iter().filter(|a| a.0.starts_with("users.mass_")).collect();
    assert_eq!(mass.len(), 4, "one event per mass action that ran: {mass:?}");
    assert!(mass[0].0 == "users.mass_enabled" && mass[0].2.as_deref().unwrap().contains("\"affected\":6"));
}

#[tokio::test(flavor = "multi_thread")]
async fn mass_enable_and_disable() {
    let app = TestApp::spawn().await;
    mass_actions(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mass_enable_and_disable_on_postgres() {
    let app = TestApp::spawn_on(TestDb::postgres().await).await;
    mass_actions(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_views_belong_to_their_admin() {
    saved_views_belong_to_their_admin_flow(&TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_views_belong_to_their_admin_on_postgres() {
    saved_views_belong_to_their_admin_flow(&TestApp::spawn_on(TestDb::postgres().await).await).await;
}

async fn saved_views_belong_to_their_admin_flow(app: &TestApp) {
    app.create_user("locked1", &["User"]).await;
    app.create_user_in("admin2", &["Administrator"], &["Main"]).await;
    let c = app.signed_in("admin", ADMIN_PASSWORD).await;
    let q = "view=all&sort=-username&col=username&col=status";
    assert_eq!(
        c.post_raw("/admin/users/views", &[("name", "Mine"), ("query", q)])
            .await
            .status(),
        403
    );
    let r = c
        .post(
            "/profile",
            "/admin/users/views",
            &[("name", "  By name  "), ("query", q)],
        )
        .await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(
        to.starts_with("/admin/users?view=all&sort=-username&col=username&col=status&saved="),
        "{to}"
    );
    let html = c.get_text(&to).await;
    assert!(html.contains("View “By name” saved."));
    assert!(html.contains(">By name</a>") && html.contains("aria-current=\"page\">By name"));
    assert_eq!(row_names(&html), ["locked1", "admin2", "admin"]);
    let id: i64 = to.rsplit('=').next().unwrap().parse().unwrap();

    // the same name twice, any case; an empty name
    c.post("/profile", "/admin/users/views", &[("name", "BY NAME"), ("query", q)])
        .await;
    assert!(
        c.get_text("/admin/users?view=all")
            .await
            .contains("already have a view named")
    );
    c.post("/profile", "/admin/users/views", &[("name", " "), ("query", q)])
        .await;
    assert!(
        c.get_text("/admin/users?view=all")
            .await
            .contains("View name: is required")
    );

    // make it the default: /admin/users opens it
    let r = c
        .post("/profile", &format!("/admin/users/views/{id}/default"), &[])
        .await;
    assert_eq!(r.status(), 303);
    let r = c.get("/admin/users").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), to);
    // a second default replaces the first
    c.post(
        "/profile",
        "/admin/users/views",
        &[("name", "Other"), ("query", "view=disabled")],
    )
    .await;
    let mut conn = app.store().conn().await.unwrap();
    let admin = app.user_by_name("admin").await;
    let views = muster_store::saved_views::list(&mut conn, admin.id).await.unwrap();
    let other = views.iter().find(|v| v.name == "Other").unwrap().id;
    c.post("/profile", &format!("/admin/users/views/{other}/default"), &[])
        .await;
    let views = muster_store::saved_views::list(&mut conn, admin.id).await.unwrap();
    assert_eq!(
        views.iter().filter(|v| v.is_default).map(|v| v.id).collect::<Vec<_>>(),
        [other]
    );
    c.post(
        "/profile",
        &format!("/admin/users/views/{other}/default"),
        &[("unset", "1")],
    )
    .await;
    assert_eq!(c.get("/admin/users").await.status(), 200, "back to Active users");

    // rename
    let r = c
        .post(
            "/profile",
            &format!("/admin/users/views/{id}/rename"),
            &[("name", "Renamed")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(c.get_text(&location(&r)).await.contains("Renamed"));

    // another admin neither sees nor changes it
    let c2 = app.signed_in("admin2", PASSWORD).await;
    assert!(!c2.get_text("/admin/users").await.contains("Renamed"));
    for action in ["rename", "delete", "default"] {
        let r = c2
            .post(
                "/profile",
                &format!("/admin/users/views/{id}/{action}"),
                &[("name", "x")],
            )
            .await;
        assert_eq!(r.status(), 404, "{action}");
    }
    let r = c
        .post("/profile", &format!("/admin/users/views/{id}/delete"), &[])
        .await;
    assert_eq!(r.status(), 303);
    let views = muster_store::saved_views::list(&mut conn, admin.id).await.unwrap();
    assert_eq!(views.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn create_and_edit_forms_report_each_field() {
    let app = TestApp::spawn().await;
    app.create_user("taken", &["User"]).await;
    let c = app.signed_in("admin", ADMIN_PASSWORD).await;
    let form = c.get_text("/admin/users/new").await;
    assert!(form.contains("name=\"roles\" value=\"User Manager\"") && form.contains("value=\"Main\""));
    assert_eq!(
        c.post_raw("/admin/users/new", &[("username", "x")]).await.status(),
        403,
        "CSRF"
    );
    let r = c
        .post(
            "/admin/users/new",
            "/admin/users/new",
            &[
                ("username", "a b"),
                ("email", "nope"),
                ("first_name", ""),
                ("last_name", "Ok"),
                ("password", "short"),
                ("organizations", "Main"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    for id in ["error-username", "error-email", "error-first_name", "error-roles"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(html.contains("value=\"Ok\""), "the form keeps what was typed");
    // uniqueness, any case
    let r = c
        .post(
            "/admin/users/new",
            "/admin/users/new",
            &[
                ("username", "TAKEN"),
                ("email", "Taken@Example.com"),
                ("first_name", "T"),
                ("last_name", "T"),
                ("roles", "User"),
                ("organizations", "Main"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("id=\"error-username\">is already taken") && html.contains("id=\"error-email\">is already taken")
    );
    // created
    let r = c
        .post(
            "/admin/users/new",
            "/admin/users/new",
            &[
                ("username", "newbie"),
                ("email", "newbie@example.com"),
                ("first_name", "New"),
                ("last_name", "Bie"),
                ("password", PASSWORD),
                ("roles", "User"),
                ("roles", "User Manager"),
                ("organizations", "Main"),
                ("enabled", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let u = app.user_by_name("newbie").await;
    assert_eq!(location(&r), format!("/admin/users/{}", u.id));
    assert_eq!(u.roles.len(), 2);
    assert!(u.enabled);
    app.signed_in("newbie", PASSWORD).await;

    // edit: errors per field, then saved; one's own Administrator role stays
    let edit = format!("/admin/users/{}/edit", u.id);
    let r = c
        .post(
            &edit,
            &edit,
            &[
                ("username", "taken"),
                ("email", "newbie@example.com"),
                ("first_name", "New"),
                ("last_name", ""),
                ("roles", "User"),
                ("organizations", "Main"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("id=\"error-username\">is already taken") && html.contains("id=\"error-last_name\""),
        "{html}"
    );
    let r = c
        .post(
            &edit,
            &edit,
            &[
                ("username", "NewBie2"),
                ("email", "nb2@example.com"),
                ("first_name", "New"),
                ("last_name", "Two"),
                ("roles", "User"),
                ("organizations", "Main"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let after = app.user(u.id).await;
    assert_eq!((after.username.as_str(), after.enabled), ("NewBie2", false));
    assert_eq!(after.roles, vec![muster_domain::Role::User]);
    let admin = app.user_by_name("admin").await;
    let me = format!("/admin/users/{}/edit", admin.id);
    let r = c
        .post(
            &me,
            &me,
            &[
                ("username", "admin"),
                ("email", "admin@example.com"),
                ("first_name", "Admin"),
                ("last_name", "User"),
                ("roles", "User"),
                ("organizations", "Main"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("you cannot remove your own Administrator role"));
    assert!(html.contains("you cannot disable yourself"));
    let actions: Vec<String> = audit_actions(&app).await.into_iter().map(|a| a.0).collect();
    assert!(actions.contains(&"user.updated".to_owned()) && actions.contains(&"user.created".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_and_login_attempt_pages_filter_and_escape() {
    let app = TestApp::spawn().await;
    let u = app.create_user("jdoe", &["User"]).await;
    let c = app.signed_in("admin", ADMIN_PASSWORD).await;
    let edit = format!("/admin/users/{}/edit", u.id);
    c.post(
        &edit,
        &edit,
        &[
            ("username", "jdoe"),
            ("email", "jdoe@example.com"),
            ("first_name", "<script>alert(1)</script>"),
            ("last_name", "<b>x</b>"),
            ("roles", "User"),
            ("organizations", "Main"),
            ("enabled", "1"),
        ],
    )
    .await;
    let page = format!("/admin/users/{}", u.id);
    c.post(&page, &format!("{page}/disable"), &[]).await;
    Client::new(&app.base).login("jdoe", "wrong").await;
    Client::new(&app.base).login("ghost", "wrong").await;

    for path in [
        "/admin/users?view=all",
        page.as_str(),
        "/admin/audit",
        "/admin/login-attempts",
    ] {
        let html = c.get_text(path).await;
        assert!(!html.contains("<script>alert(1)"), "{path} must escape");
        assert!(!html.contains("<b>x</b>"), "{path} must escape");
    }
    let html = c.get_text(&page).await;
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{html}");
    assert!(
        c.get_text("/admin/audit")
            .await
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
    );

    let html = c.get_text("/admin/audit?action=user.disabled").await;
    assert_eq!(html.matches("class=\"action\">").count(), 1);
    let html = c.get_text("/admin/audit?target=JDOE&actor=admin").await;
    assert_eq!(html.matches("class=\"action\">").count(), 2, "updated, disabled");
    let html = c.get_text("/admin/audit?from=2999-01-01").await;
    assert!(html.contains("No events match."));
    assert_eq!(c.get("/admin/audit?from=nonsense&page=zz").await.status(), 200);

    let html = c.get_text("/admin/login-attempts?success=no").await;
    assert_eq!(html.matches("class=\"result\">").count(), 2);
    let html = c.get_text("/admin/login-attempts?user=ghost").await;
    assert!(html.contains("unknown user") && html.matches("class=\"result\">").count() == 1);
    let html = c.get_text("/admin/login-attempts?success=yes&source=web").await;
    assert_eq!(html.matches("class=\"result\">").count(), 1, "the admin's sign-in");
    let html = c.get_text("/admin/login-attempts?source=api").await;
    assert!(html.contains("No attempts match."));
}

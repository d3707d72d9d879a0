//! Import: every kind of rejected row, named with its line, field and reason;
//! a dry run changes nothing; a rejected row is never half applied.

use muster_domain::AuthStatus;

use crate::csv_support::*;
use crate::support::{ADMIN_PASSWORD, PASSWORD, TestApp};

#[tokio::test]
async fn every_kind_of_rejected_row_is_listed_and_nothing_is_half_applied() {
    let app = TestApp::spawn().await;
    app.create_org("Elsewhere").await;
    app.create_user("taken", &["User"]).await;
    let keep = app.create_user("keepme", &["User"]).await;
    app.create_user_in("outsider", &["User"], &["Elsewhere"]).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;

    let csv = [
        "username,email,first_name,last_name,enabled,auth_status,organizations,roles,created_at,login_count,password_hash",
        "newbie,newbie@example.com,New,Bie,true,active,Main,User,2025-01-02T03:04:05Z,3,", // 2: valid
        "bad name!,a@example.com,A,B,true,active,Main,User,,,",                          // 3
        "u4,not-an-email,A,B,true,active,Main,User,,,",                                  // 4
        "u5,taken@example.com,A,B,true,active,Main,User,,,",                             // 5: email taken
        "u6,u6@example.com,,B,true,active,Main,User,,,",                                 // 6: new user needs a first name
        "u7,u7@example.com,A,B,maybe,active,Main,User,,,",                               // 7
        "u8,u8@example.com,A,B,true,sleeping,Main,User,,,",                              // 8
        "u9,u9@example.com,A,B,true,active,Atlantis,User,,,",                            // 9: unknown org
        "u10,u10@example.com,A,B,true,active,Elsewhere,User,,,",                         // 10: org outside scope
        "u11,u11@example.com,A,B,true,active,Main,Root,,,",                              // 11
        "u12,u12@example.com,A,B,true,active,Main,User,yesterday,,",                     // 12
        "u13,u13@example.com,A,B,true,active,Main,User,,-5,",                            // 13
        "u14,u14@example.com,A,B,true,active,Main,User,,,$2y$10$abcdefghijklmnopqrstuu", // 14: bcrypt
        "u15,u15@example.com,A,B",                                                       // 15: too few cells
        "outsider,o@example.com,A,B,true,active,Main,User,,,",                           // 16: another org's user
        "admin,,,,false,,,,,,",                                                          // 17: own account
        "keepme,,Changed,,,,,Root,,,",                                                   // 18: half valid
        "u19,newbie@example.com,A,B,true,active,Main,User,,,",                           // 19: same email as line 2
    ]
    .join("\n");
    let users_before = muster_store::users::count_all(&mut app.store().conn().await.unwrap())
        .await
        .unwrap();

    let resp = upload(&admin, &csv, true).await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Dry run: 18 row(s)"), "{html}");
    let rows = rejected_rows(&html);
    let expect: &[(u64, &str, &str)] = &[
        (3, "username", "may contain letters"),
        (4, "email", "must look like name@example.com"),
        (5, "email", "is already taken"),
        (6, "first_name", "is required for a new user"),
        (7, "enabled", "must be true or false"),
        (8, "auth_status", "unknown status"),
        (9, "organizations", "unknown organization &#34;Atlantis&#34;"),
        (10, "organizations", "unknown organization &#34;Elsewhere&#34;"),
        (11, "roles", "unknown role &#34;Root&#34;"),
        (12, "created_at", "RFC 3339"),
        (13, "login_count", "0 or more"),
        (14, "password_hash", "bcrypt"),
        (15, "row", "has 4 cells but the header has 11 columns"),
        (16, "username", "outside your organizations"),
        (17, "enabled", "cannot disable yourself"),
        (18, "roles", "unknown role"),
        (19, "email", "is also given to newbie on line 2"),
    ];
    for (line, field, reason) in expect {
        assert!(
            rows.iter()
                .any(|(l, f, r)| l == line && f == field && r.contains(reason)),
            "line {line} {field} {reason:?} not in {rows:#?}"
        );
    }
    assert_eq!(rows.len(), expect.len(), "{rows:#?}");
    assert!(html.contains("id=\"created\">1<"), "the valid row would be created");
    let users_after = muster_store::users::count_all(&mut app.store().conn().await.unwrap())
        .await
        .unwrap();
    assert_eq!(users_before, users_after, "a dry run changes nothing");

    // the real run: only the valid row is applied; the half-valid row changed nothing
    let resp = upload(&admin, &csv, false).await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    let rows = rejected_rows(&html);
    assert_eq!(
        rows.len(),
        expect.len(),
        "line 19 now clashes with the stored newbie: {rows:#?}"
    );
    assert!(
        rows.iter()
            .any(|(l, f, r)| *l == 19 && f == "email" && r.contains("already taken"))
    );
    let newbie = app.user_by_name("newbie").await;
    assert_eq!(
        newbie.auth_status,
        AuthStatus::PasswordReset,
        "no hash: the user must reset"
    );
    assert!(!muster_server::hashing::is_argon2_phc(&newbie.password_hash));
    assert_eq!(newbie.login_count, 3);
    assert_eq!(muster_server::clock::rfc3339(newbie.created_at), "2025-01-02T03:04:05Z");
    assert_eq!(
        app.user(keep.id).await.first_name,
        keep.first_name,
        "rejected row not half applied"
    );
    assert!(app.user_by_name("admin").await.enabled);
    assert_eq!(
        muster_store::users::count_all(&mut app.store().conn().await.unwrap())
            .await
            .unwrap(),
        users_before + 1
    );
    let mut conn = app.store().conn().await.unwrap();
    let events = muster_store::audit::list(&mut conn, &Default::default(), 50, 0)
        .await
        .unwrap();
    assert_eq!(events.iter().filter(|e| e.action == "user.imported").count(), 1);
}

#[tokio::test]
async fn a_bad_header_refuses_the_whole_file() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let resp = upload(&admin, "username,password\nx,y\n", false).await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("unknown column &#34;password&#34;"), "{html}");
    let resp = upload(&admin, "email\nx@example.com\n", false).await;
    assert!(resp.text().await.unwrap().contains("username column is required"));
    let resp = upload(&admin, "", false).await;
    assert!(resp.text().await.unwrap().contains("Choose a CSV file"));
    let resp = upload(&admin, "username\n\u{ff}", true).await;
    assert_eq!(resp.status(), 422);
}

#[tokio::test]
async fn an_import_updates_by_username_in_any_case_and_keeps_passwords() {
    let app = TestApp::spawn().await;
    let u = app.create_user("Jane.Doe", &["User"]).await;
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    // a session of Jane's, which the new hash must end
    let jane = app.signed_in("Jane.Doe", PASSWORD).await;
    let hash = muster_server::hashing::hash_now(
        "Another-Secret-Phrase-77",
        muster_server::hashing::Params {
            memory_kib: 8192,
            iterations: 1,
            parallelism: 1,
        },
    )
    .unwrap();
    let csv = format!("username,last_name,roles,password_hash\njane.doe,Smith,\"User Manager, User\",\"{hash}\"\n");
    let resp = upload(&admin, &csv, false).await;
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"updated\">1<"), "{html}");
    let after = app.user(u.id).await;
    assert_eq!(after.username, "jane.doe");
    assert_eq!(after.last_name, "Smith");
    assert_eq!(after.first_name, u.first_name, "absent cells keep their value");
    assert_eq!(after.roles.len(), 2);
    assert_eq!(
        jane.get("/profile").await.status(),
        303,
        "sessions ended with the password change"
    );
    app.signed_in("jane.doe", "Another-Secret-Phrase-77").await;
    let mails = outbox(&app).await;
    assert!(
        mails
            .iter()
            .any(|m| m.0 == after.email && m.1.contains("password was changed"))
    );
}

#[tokio::test]
async fn only_administrators_may_import() {
    let app = TestApp::spawn().await;
    app.create_user("manager", &["User Manager"]).await;
    let um = app.signed_in("manager", PASSWORD).await;
    assert_eq!(um.get("/admin/import").await.status(), 403);
    let token = um.csrf("/profile").await;
    let resp = um
        .http
        .post(format!("{}/admin/import", um.base))
        .header("content-type", "multipart/form-data; boundary=x")
        .body(format!(
            "--x\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n\
             --x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nusername\nmallory\r\n--x--\r\n"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let mut conn = app.store().conn().await.unwrap();
    assert!(
        muster_store::users::find_by_username(&mut conn, "mallory")
            .await
            .unwrap()
            .is_none()
    );
}

/// The import writes users through the same service as the form and the API,
/// so a row is refused for what they refuse, with the same words: one's own
/// row may not disable, lock or demote oneself, nor replace one's own password
/// (the form asks for the current one); every reason of the row is listed and
/// nothing of it is applied.
async fn own_row_refused_as_the_form_refuses(app: TestApp) {
    let admin_before = app.user_by_name("admin").await;
    let web = app.signed_in("admin", ADMIN_PASSWORD).await;
    let hash = muster_server::hashing::hash_now(
        "Someone-Elses-Phrase-19",
        muster_server::hashing::Params {
            memory_kib: 8192,
            iterations: 1,
            parallelism: 1,
        },
    )
    .unwrap();
    let csv = format!("username,enabled,auth_status,roles,password_hash\nadmin,false,locked,User,\"{hash}\"\n");
    let resp = upload(&web, &csv, false).await;
    assert_eq!(resp.status(), 422);
    let rows = rejected_rows(&resp.text().await.unwrap());
    let expect = [
        ("enabled", "you cannot disable yourself"),
        ("auth_status", "you cannot lock yourself"),
        ("roles", "you cannot remove your own Administrator role"),
        ("password_hash", "your own password on your profile"),
    ];
    for (field, reason) in expect {
        assert!(
            rows.iter().any(|(l, f, r)| *l == 2 && f == field && r.contains(reason)),
            "{field}: {reason:?} not in {rows:#?}"
        );
    }
    assert_eq!(rows.len(), expect.len(), "{rows:#?}");
    let after = app.user_by_name("admin").await;
    assert!(after.enabled);
    assert_eq!(after.auth_status, AuthStatus::Active);
    assert_eq!(after.roles, admin_before.roles);
    assert_eq!(
        after.password_hash, admin_before.password_hash,
        "the row changed nothing"
    );
    // the form refuses the first with the same words
    let resp = web
        .post(
            &format!("/admin/users/{}/edit", after.id),
            &format!("/admin/users/{}/edit", after.id),
            &[
                ("username", "admin"),
                ("email", after.email.as_str()),
                ("first_name", after.first_name.as_str()),
                ("last_name", after.last_name.as_str()),
                ("roles", "Administrator"),
                ("organizations", "Main"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap().contains("you cannot disable yourself"));
    assert!(app.user_by_name("admin").await.enabled);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_refuses_ones_own_row_as_the_form_does() {
    own_row_refused_as_the_form_refuses(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_refuses_ones_own_row_as_the_form_does_postgres() {
    own_row_refused_as_the_form_refuses(TestApp::spawn_on(crate::support::TestDb::postgres().await).await).await;
}

/// Giving someone the Administrator role: the User Manager may not by the
/// form, the API or the import; an Administrator's row that does it is one
/// `user.imported` event marked `updated`, and a row that changes nothing is none.
async fn administrator_role_only_by_administrators(app: TestApp) {
    let plain = app.create_user("plain", &["User"]).await;
    let manager = app.create_user("manager", &["User Manager"]).await;
    let um_web = app.signed_in("manager", PASSWORD).await;
    let um_api = crate::api_client::Api::new(&app, Some(&crate::api_client::key_for(&app, manager.id, None).await));
    let csv = "username,roles\nplain,Administrator\n";
    // the User Manager: the import is refused as a whole, the API's PATCH names the field
    let token = um_web.csrf("/profile").await;
    let resp = um_web
        .http
        .post(format!("{}/admin/import", um_web.base))
        .header("content-type", "multipart/form-data; boundary=x")
        .body(format!(
            "--x\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n\
             --x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n{csv}\r\n--x--\r\n"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let r = um_api
        .send(
            "PATCH",
            &format!("/api/users/{}", plain.id),
            Some(serde_json::json!({"data": {"type": "users", "id": plain.id.to_string(),
                "attributes": {"roles": ["Administrator"]}}})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.pointer(), "/data/attributes/roles");
    assert_eq!(app.user(plain.id).await.roles, vec![muster_domain::Role::User]);
    // the Administrator: one event, marked as an import
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let html = upload(&admin, csv, false).await.text().await.unwrap();
    assert!(html.contains("id=\"updated\">1<"), "{html}");
    assert_eq!(app.user(plain.id).await.roles, vec![muster_domain::Role::Administrator]);
    let html = upload(&admin, csv, false).await.text().await.unwrap();
    assert!(html.contains("id=\"unchanged\">1<"), "{html}");
    let mut conn = app.store().conn().await.unwrap();
    let filter = muster_store::audit::Filter {
        target_id: Some(plain.id),
        ..Default::default()
    };
    let events = muster_store::audit::list(&mut conn, &filter, 50, 0).await.unwrap();
    let imported: Vec<_> = events.iter().filter(|e| e.action == "user.imported").collect();
    assert_eq!(imported.len(), 1, "{events:#?}");
    let after = imported[0].after_json.as_deref().unwrap_or("");
    assert!(after.contains(r#""import":"updated""#), "{after}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_administrator_role_is_given_by_administrators_only_on_every_path() {
    administrator_role_only_by_administrators(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_administrator_role_is_given_by_administrators_only_on_every_path_postgres() {
    administrator_role_only_by_administrators(TestApp::spawn_on(crate::support::TestDb::postgres().await).await).await;
}

/// An import writes users through the same path as the form, and the search
/// follows it (PostgreSQL's `user_search` table, SQLite's FTS5 index): a
/// created user is found by their name, an updated one by the new name and
/// no longer by the old one.
async fn imported_users_are_found_by_the_search(app: TestApp) {
    let u = app.create_user("jane.doe", &["User"]).await;
    // "Lastjane.doe": searched without the username the page would echo back
    let old_last = u.last_name.to_lowercase().replace("jane.doe", "jane");
    let admin = app.signed_in("admin", ADMIN_PASSWORD).await;
    let csv = "username,email,first_name,last_name,organizations,roles\n\
               zed.numbat,zed@example.com,Zed,Quokka,Main,User\n\
               jane.doe,jane.doe@example.com,Jane,Wallaby,Main,User\n";
    let html = upload(&admin, csv, false).await.text().await.unwrap();
    assert!(html.contains("id=\"updated\">1<"), "{html}");
    let found = async |q: &str| admin.get_text(&format!("/admin/users?view=all&q={q}")).await;
    let html = found("quokka").await;
    assert!(html.contains("zed.numbat") && !html.contains("jane.doe"), "{html}");
    assert!(found("wallaby").await.contains("jane.doe"));
    assert!(found("zed@ex").await.contains("zed.numbat"));
    let html = found(&old_last).await;
    assert!(
        html.contains(&old_last) && !html.contains("jane.doe"),
        "{old_last}: {html}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn imported_users_are_found_by_the_search_sqlite() {
    imported_users_are_found_by_the_search(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn imported_users_are_found_by_the_search_postgres() {
    imported_users_are_found_by_the_search(TestApp::spawn_on(crate::support::TestDb::postgres().await).await).await;
}

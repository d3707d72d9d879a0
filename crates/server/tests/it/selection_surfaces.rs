//! One selection, every surface: for a population that exercises every filter
//! the grid offers, the grid page, its "Export this view", its mass actions
//! (the Reset Password confirmation's count and a "select all N matching"
//! Disable) and `GET /api/users` with the same filters hold exactly the same
//! users.

use std::collections::BTreeSet;

use muster_domain::{AuthStatus, EmailAddress, PersonName, Selection, Username};

use crate::api_client::{Api, key_for};
use crate::csv_support::{run_jobs, start_export};
use crate::support::{ADMIN_PASSWORD, Client, TestApp, TestDb};

type Names = BTreeSet<String>;

/// (username, first name, last name, email domain, role, in Acme too, enabled, status, created, updated)
type Person = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    bool,
    &'static str,
    &'static str,
    &'static str,
);

const PEOPLE: [Person; 16] = [
    (
        "jvandijk",
        "Jan",
        "van Dijk",
        "example.com",
        "User",
        false,
        true,
        "active",
        "2025-01-10",
        "2025-02-01",
    ),
    (
        "avance",
        "Anna",
        "Vance",
        "example.org",
        "User",
        true,
        true,
        "active",
        "2025-03-05",
        "2026-01-15",
    ),
    (
        "zzhang",
        "Zoë",
        "Zhang",
        "example.com",
        "User Manager",
        false,
        true,
        "locked",
        "2025-04-20",
        "2025-04-20",
    ),
    (
        "jalvarez",
        "José",
        "Álvarez",
        "example.org",
        "User",
        true,
        false,
        "active",
        "2025-05-01",
        "2026-02-01",
    ),
    (
        "jsmith",
        "John",
        "Smith",
        "example.com",
        "User",
        false,
        true,
        "password_reset",
        "2025-06-30",
        "2025-07-01",
    ),
    (
        "jsmithjones",
        "Jane",
        "Smith-Jones",
        "example.org",
        "User Manager",
        true,
        true,
        "active",
        "2025-07-15",
        "2026-03-01",
    ),
    (
        "bbrown",
        "Bob",
        "Brown",
        "example.com",
        "User",
        false,
        false,
        "locked",
        "2025-08-01",
        "2025-08-02",
    ),
    (
        "danna",
        "Dana",
        "Annaberg",
        "example.org",
        "User",
        true,
        true,
        "active",
        "2025-09-30",
        "2025-10-01",
    ),
    (
        "ejohnson",
        "Eve",
        "Johnson",
        "example.com",
        "User",
        false,
        true,
        "active",
        "2025-10-10",
        "2026-01-02",
    ),
    (
        "fjordan",
        "Frank",
        "Jordan",
        "example.org",
        "User",
        false,
        true,
        "locked",
        "2025-11-11",
        "2025-11-12",
    ),
    (
        "gmartin",
        "Grace",
        "Martin",
        "example.com",
        "User Manager",
        true,
        false,
        "password_reset",
        "2025-12-24",
        "2026-01-01",
    ),
    (
        "hlee",
        "Hana",
        "Lee",
        "example.org",
        "User",
        false,
        true,
        "active",
        "2026-01-05",
        "2026-01-06",
    ),
    (
        "ikovacs",
        "István",
        "Kovács",
        "example.com",
        "User",
        true,
        true,
        "active",
        "2026-02-14",
        "2026-02-15",
    ),
    (
        "jdoe",
        "Joan",
        "Doe",
        "example.org",
        "User",
        false,
        true,
        "active",
        "2026-03-03",
        "2026-03-04",
    ),
    (
        "kmueller",
        "Karl",
        "Müller",
        "example.com",
        "User",
        true,
        false,
        "active",
        "2026-04-01",
        "2026-04-02",
    ),
    (
        "lnakamura",
        "Lena",
        "Nakamura",
        "example.org",
        "User",
        false,
        true,
        "password_reset",
        "2026-05-05",
        "2026-05-06",
    ),
];

fn day_ms(date: &str) -> i64 {
    muster_domain::dates::parse_date(date, false).expect("a date") + 12 * 3_600_000
}

async fn population(app: &TestApp) -> (i64, i64) {
    let acme = app.create_org("Acme").await;
    let main = crate::csv_support::main_org(app).await;
    let admin = app.user_by_name("admin").await;
    {
        let mut c = app.store().conn().await.unwrap();
        muster_store::users::set_organizations(&mut c, admin.id, &[main, acme])
            .await
            .unwrap();
    }
    for (username, first, last, domain, role, in_acme, enabled, status, created, updated) in PEOPLE {
        let orgs: &[&str] = if in_acme { &["Main", "Acme"] } else { &["Main"] };
        let u = app.create_user_in(username, &[role], orgs).await;
        let mut c = app.store().conn().await.unwrap();
        let change = muster_store::users::ProfileChange {
            username: Username::parse(username).unwrap(),
            email: EmailAddress::parse(&format!("{username}@{domain}")).unwrap(),
            first_name: PersonName::parse("first_name", first).unwrap(),
            last_name: PersonName::parse("last_name", last).unwrap(),
        };
        muster_store::users::update_profile(&mut c, u.id, &change, 1)
            .await
            .unwrap();
        sqlx::query("UPDATE users SET created_at = $1 WHERE id = $2")
            .bind(day_ms(created))
            .bind(u.id)
            .execute(&mut *c)
            .await
            .unwrap();
        muster_store::users::set_auth_status(&mut c, u.id, AuthStatus::parse(status).unwrap(), day_ms(updated))
            .await
            .unwrap();
        muster_store::users::set_enabled(&mut c, u.id, enabled, day_ms(updated))
            .await
            .unwrap();
        // the status setters touch updated_at: put the population's own back
        sqlx::query("UPDATE user_status SET updated_at = $1 WHERE user_id = $2")
            .bind(day_ms(updated))
            .bind(u.id)
            .execute(&mut *c)
            .await
            .unwrap();
    }
    (main, acme)
}

fn row_names(html: &str) -> Names {
    html.split("data-username=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next().map(str::to_owned))
        .collect()
}

async fn grid(c: &Client, query: &str) -> Names {
    let html = c.get_text(&format!("/admin/users?{query}&size=100")).await;
    assert!(
        !html.contains("class=\"problems\""),
        "{query}: the grid did not understand it"
    );
    row_names(&html)
}

async fn api(key: &Api, query: &str) -> Names {
    let (selection, problems) =
        Selection::from_query(&serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap());
    assert!(problems.is_empty(), "{problems:?}");
    let mut pairs = selection.to_api_pairs();
    pairs.push(("page[size]".into(), "1000".into()));
    let r = key
        .get(&format!("/api/users?{}", serde_urlencoded::to_string(&pairs).unwrap()))
        .await;
    assert_eq!(r.status, 200, "{query}: {}", r.text);
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["attributes"]["username"].as_str().unwrap().to_owned())
        .collect()
}

async fn export(app: &TestApp, c: &Client, query: &str) -> Names {
    let id = start_export(app, c, &format!("?{query}")).await;
    run_jobs(app).await;
    let body = c
        .get(&format!("/admin/exports/{id}/download"))
        .await
        .bytes()
        .await
        .unwrap();
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(&body[..]);
    let at = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "username")
        .expect("a username column");
    r.records().map(|rec| rec.unwrap()[at].to_owned()).collect()
}

async fn reset_confirmation_count(c: &Client, query: &str) -> i64 {
    let html = c
        .get_text(&format!("/admin/users/mass/reset-password?all_matching=1&{query}"))
        .await;
    let before = html.split(" user(s) selected").next().unwrap();
    before.rsplit('>').next().unwrap().trim().parse().unwrap()
}

/// "Select all N matching", then Disable: the users it changed. They are enabled again after.
async fn mass_disable(app: &TestApp, c: &Client, query: &str) -> Names {
    let enabled_before = enabled(app).await;
    let resp = c
        .post(
            "/admin/users",
            "/admin/users/mass",
            &[("action", "disable"), ("all", "1"), ("query", query)],
        )
        .await;
    assert_eq!(resp.status(), 303, "{query}");
    let enabled_after = enabled(app).await;
    let changed: Names = enabled_before.difference(&enabled_after).cloned().collect();
    let mut c = app.store().conn().await.unwrap();
    for name in &changed {
        let u = muster_store::users::find_by_username(&mut c, name)
            .await
            .unwrap()
            .unwrap();
        muster_store::users::set_enabled(&mut c, u.id, true, 1).await.unwrap();
    }
    changed
}

async fn enabled(app: &TestApp) -> Names {
    let mut c = app.store().conn().await.unwrap();
    let all = muster_store::users::list(
        &mut c,
        &muster_store::users::Scope::System,
        &Default::default(),
        &Default::default(),
        1000,
        0,
    )
    .await
    .unwrap();
    all.into_iter().filter(|u| u.enabled).map(|u| u.username).collect()
}

async fn surfaces(app: TestApp) {
    let (main, acme) = population(&app).await;
    let admin = app.user_by_name("admin").await;
    let c = app.signed_in("admin", ADMIN_PASSWORD).await;
    let key = Api::new(&app, Some(&key_for(&app, admin.id, Some(main)).await));
    let everyone = grid(&c, "view=all").await;
    assert_eq!(everyone.len(), PEOPLE.len() + 1);
    let cases = [
        "view=all".to_owned(),
        "view=active".to_owned(),
        "view=disabled".to_owned(),
        "view=cannot_login".to_owned(),
        "view=all&q=dijk".to_owned(),
        "view=all&q=smith&sort=-createdAt".to_owned(),
        "view=all&q=an".to_owned(),
        "view=active&first_name=an".to_owned(),
        "view=all&last_name=sm".to_owned(),
        "view=all&email=example.org".to_owned(),
        "view=all&username=jo".to_owned(),
        "view=all&enabled=no".to_owned(),
        "view=all&status=locked".to_owned(),
        "view=all&status=locked&status=password_reset".to_owned(),
        "view=all&role=User+Manager".to_owned(),
        format!("view=all&org={acme}"),
        "view=all&created_from=2025-03-01&created_to=2025-09-30".to_owned(),
        "view=all&updated_from=2026-01-01".to_owned(),
        format!("view=active&q=an&org={acme}&role=User&sort=lastName"),
    ];
    let mut failures = Vec::new();
    for q in &cases {
        let on_grid = grid(&c, q).await;
        if q != "view=all" && (on_grid.is_empty() || on_grid == everyone) {
            failures.push(format!(
                "{q}: the case selects {} users, it tests nothing",
                on_grid.len()
            ));
        }
        let by_api = api(&key, q).await;
        let exported = export(&app, &c, q).await;
        let confirmed = reset_confirmation_count(&c, q).await;
        let disabled = mass_disable(&app, &c, q).await;
        let expected_disabled: Names = on_grid
            .iter()
            .filter(|n| *n != "admin" && enabled_now(n))
            .cloned()
            .collect();
        if by_api != on_grid {
            failures.push(format!("{q}: API {by_api:?} ≠ grid {on_grid:?}"));
        }
        if exported != on_grid {
            failures.push(format!("{q}: export {exported:?} ≠ grid {on_grid:?}"));
        }
        if confirmed != on_grid.len() as i64 {
            failures.push(format!(
                "{q}: the reset confirmation counts {confirmed}, the grid {}",
                on_grid.len()
            ));
        }
        if disabled != expected_disabled {
            failures.push(format!(
                "{q}: mass disable changed {disabled:?}, the grid's enabled users are {expected_disabled:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Whether a population member (or the admin) is enabled, from the table above.
fn enabled_now(username: &str) -> bool {
    PEOPLE.iter().find(|p| p.0 == username).is_none_or(|p| p.6)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_surface_selects_the_same_users_sqlite() {
    surfaces(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_surface_selects_the_same_users_postgres() {
    surfaces(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

/// The finding as reported: "Export this view" of a searched view held more
/// users than the grid showed.
#[tokio::test(flavor = "multi_thread")]
async fn export_this_view_holds_exactly_the_grids_users() {
    let app = TestApp::spawn().await;
    for name in ["tagged-one", "tagged-two", "tagged-three", "other"] {
        app.create_user(name, &["User"]).await;
    }
    let c = app.signed_in("admin", ADMIN_PASSWORD).await;
    let q = "view=active&q=tagged";
    let on_grid = grid(&c, q).await;
    assert_eq!(on_grid.len(), 3);
    assert_eq!(export(&app, &c, q).await, on_grid);
}

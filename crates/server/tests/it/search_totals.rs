//! The search at scale (issue 11): a total that stops counting at a cap says
//! so on the grid ("N+") and in the API's meta, the pager and links stay
//! usable past it; and the search finds the same users on every surface as
//! the definition says ("contains, in names, username and email", any case),
//! whichever way the store walks the matches.

use std::collections::BTreeSet;

use muster_domain::{EmailAddress, PersonName, Username};

use crate::api_client::{Api, key_for};
use crate::csv_support::{main_org, run_jobs, start_export};
use crate::support::{ADMIN_PASSWORD, Client, TestApp, TestDb};

type Names = BTreeSet<String>;

/// (username, first name, last name, email): accents and case in names, the
/// needle in an email's domain only, in a username only, across the space
/// between first and last name.
const PEOPLE: [(&str, &str, &str, &str); 12] = [
    ("jsmith", "John", "Smith", "john@example.com"),
    ("asmythe", "Anna", "SMYTHE", "anna@smith-law.org"),
    ("smithers", "Waylon", "Burns", "wb@example.com"),
    ("jalvarez", "José", "Álvarez", "jose@example.org"),
    ("kmueller", "Karl", "Müller", "karl@example.com"),
    ("ikovacs", "István", "Kovács", "istvan@example.org"),
    ("zoe", "Zoë", "Goldsmith", "zoe@example.com"),
    ("bbrown", "Bob", "Brown", "bob.brown@example.com"),
    ("vdijk", "Jan", "van Dijk", "jan@example.org"),
    ("nsmi", "Nora", "Smi", "nora@example.net"),
    ("tkeith", "Tom", "Keith", "tkeith@example.com"),
    ("ulrike", "ULRIKE", "Ödegaard", "u.odegaard@example.net"),
];

async fn person(app: &TestApp, username: &str, first: &str, last: &str, email: &str) {
    let u = app.create_user(username, &["User"]).await;
    let mut c = app.store().conn().await.unwrap();
    let change = muster_store::users::ProfileChange {
        username: Username::parse(username).unwrap(),
        email: EmailAddress::parse(email).unwrap(),
        first_name: PersonName::parse("first_name", first).unwrap(),
        last_name: PersonName::parse("last_name", last).unwrap(),
    };
    muster_store::users::update_profile(&mut c, u.id, &change, 1)
        .await
        .unwrap();
}

/// Who the search must find, by its definition, computed here apart from the store.
fn expected(needle: &str, extra: &[(&str, &str, &str, &str)]) -> Names {
    let n = needle.to_lowercase();
    PEOPLE
        .iter()
        .chain(extra)
        .filter(|(u, f, l, e)| format!("{f} {l} {u} {e}").to_lowercase().contains(&n))
        .map(|p| p.0.to_owned())
        .collect()
}

fn row_names(html: &str) -> Names {
    html.split("data-username=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next().map(str::to_owned))
        .collect()
}

fn total_text(html: &str) -> String {
    let after = html.split("id=\"total-count\">").nth(1).expect("a total on the grid");
    after.split('<').next().unwrap().to_owned()
}

async fn api_names(key: &Api, query: &str) -> Names {
    let r = key.get(&format!("/api/users?{query}&page[size]=1000")).await;
    assert_eq!(r.status, 200, "{query}: {}", r.text);
    assert_eq!(r.body["meta"]["totalCountIsLowerBound"], false, "{query}");
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["attributes"]["username"].as_str().unwrap().to_owned())
        .collect()
}

async fn export_names(app: &TestApp, c: &Client, query: &str) -> Names {
    let id = start_export(app, c, &format!("?{query}")).await;
    run_jobs(app).await;
    let body = c
        .get(&format!("/admin/exports/{id}/download"))
        .await
        .bytes()
        .await
        .unwrap();
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(&body[..]);
    let at = r.headers().unwrap().iter().position(|h| h == "username").unwrap();
    r.records().map(|rec| rec.unwrap()[at].to_owned()).collect()
}

async fn same_users_everywhere(app: TestApp) {
    for (u, f, l, e) in PEOPLE {
        person(&app, u, f, l, e).await;
    }
    let admin = app.user_by_name("admin").await;
    let main = main_org(&app).await;
    let c = app.signed_in("admin", ADMIN_PASSWORD).await;
    let key = Api::new(&app, Some(&key_for(&app, admin.id, Some(main)).await));
    let admin_row = [("admin", "Admin", "User", "admin@example.com")];
    // (needle, grid query suffix, API query suffix): every sort walks the matches another way
    let needles = [
        "smith",
        "SMITH",
        "Smi",
        "smy",
        "álv",
        "ÁLVAREZ",
        "kovács",
        "ü",
        "mü",
        "ödeg",
        "ULRIKE",
        "smith-law",
        "@example.org",
        "example.net",
        "n smi",
        "jsmith",
        "eith",
        "zoë gold",
        "x",
        "nobody-here",
    ];
    let sorts = [
        ("", ""),
        ("&sort=-id", "&sort=-id"),
        ("&sort=lastName", "&sort=lastName"),
    ];
    let mut failures = Vec::new();
    for needle in needles {
        let want = expected(needle, &admin_row);
        let q: String = serde_urlencoded::to_string([("q", needle)]).unwrap();
        let fq: String = serde_urlencoded::to_string([("filter[search]", needle)]).unwrap();
        for (grid_sort, api_sort) in sorts {
            let html = c
                .get_text(&format!("/admin/users?view=all&{q}&size=100{grid_sort}"))
                .await;
            let on_grid = row_names(&html);
            if on_grid != want {
                failures.push(format!("grid {needle:?}{grid_sort}: {on_grid:?} ≠ {want:?}"));
            }
            if total_text(&html) != want.len().to_string() {
                failures.push(format!("grid {needle:?}{grid_sort}: total {}", total_text(&html)));
            }
            let by_api = api_names(&key, &format!("{fq}{api_sort}")).await;
            if by_api != want {
                failures.push(format!("API {needle:?}{api_sort}: {by_api:?} ≠ {want:?}"));
            }
        }
        let exported = export_names(&app, &c, &format!("view=all&{q}")).await;
        if exported != want {
            failures.push(format!("export {needle:?}: {exported:?} ≠ {want:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_search_finds_the_same_users_on_every_surface_sqlite() {
    same_users_everywhere(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_search_finds_the_same_users_on_every_surface_postgres() {
    same_users_everywhere(TestApp::spawn_on(TestDb::postgres().await).await).await;
}

/// Twelve users match "smith", the cap is 3, pages hold 10 (grid) or 5 (API).
async fn capped_total(db: TestDb) {
    let app = TestApp::spawn_with(db, |config| config.count_cap = 3).await;
    for i in 0..12 {
        let username = format!("smith{i:02}");
        person(&app, &username, "Pat", "Smith", &format!("{username}@example.com")).await;
    }
    app.create_user("other", &["User"]).await;
    let c = app.signed_in("admin", ADMIN_PASSWORD).await;

    // page 1: full, counting stopped, so at least what the page reaches
    let html = c.get_text("/admin/users?view=all&q=smith&size=10").await;
    assert_eq!(row_names(&html).len(), 10);
    assert_eq!(total_text(&html), "10+");
    assert!(
        html.contains("id=\"total-capped\""),
        "the grid says why the total ends in +"
    );
    assert!(html.contains("counting stops at 3"));
    assert!(
        html.contains("data-at-least=\"1\""),
        "select-all-matching knows it is not a count"
    );
    assert!(!html.contains("id=\"last-page\""), "no last page is known");
    assert!(html.contains("id=\"next-page\""));
    assert!(html.contains("Page 1 of 1+"));
    // the last page is short: it ends the list, so its total is exact
    let html = c.get_text("/admin/users?view=all&q=smith&size=10&page=2").await;
    assert_eq!(row_names(&html).len(), 2);
    assert_eq!(total_text(&html), "12");
    assert!(!html.contains("id=\"total-capped\""));
    assert!(!html.contains("id=\"next-page\""));
    // a built-in view is counted by the counters, exactly, past any cap
    let html = c.get_text("/admin/users?view=all&size=10").await;
    assert_eq!(total_text(&html), "14");
    assert!(html.contains("id=\"last-page\""));
    // the mass action's confirmation still counts exactly
    let html = c
        .get_text("/admin/users/mass/reset-password?all_matching=1&view=all&q=smith")
        .await;
    assert!(html.contains(">12 user(s) selected"), "{html}");

    let admin = app.user_by_name("admin").await;
    let main = main_org(&app).await;
    let key = Api::new(&app, Some(&key_for(&app, admin.id, Some(main)).await));
    let r = key.get("/api/users?filter[search]=smith&page[size]=5").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 5);
    assert_eq!(r.body["meta"]["totalCount"], 5);
    assert_eq!(r.body["meta"]["totalCountIsLowerBound"], true);
    assert!(r.body["links"]["last"].is_null(), "{}", r.text);
    assert!(r.body["links"]["next"].is_string(), "{}", r.text);
    let r = key
        .get("/api/users?filter[search]=smith&page[size]=5&page[number]=3")
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["meta"]["totalCount"], 12);
    assert_eq!(r.body["meta"]["totalCountIsLowerBound"], false);
    assert!(r.body["links"]["next"].is_null(), "{}", r.text);
    let r = key.get("/api/users?filter[view]=all&page[size]=5").await;
    assert_eq!(r.body["meta"]["totalCount"], 14);
    assert_eq!(r.body["meta"]["totalCountIsLowerBound"], false);
    assert!(r.body["links"]["last"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_capped_total_says_at_least_sqlite() {
    capped_total(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_capped_total_says_at_least_postgres() {
    capped_total(TestDb::postgres().await).await;
}

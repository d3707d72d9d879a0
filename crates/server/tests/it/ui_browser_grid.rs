//! The users grid as an Oro administrator meets it, in headless Chromium at
//! 1440×900 with 5,000 users: the search and its results above the fold, a
//! chip per active filter with its ×, the pager (numbers, first/last, go to
//! page, page size), names sorted as people read them, no sideways scrolling
//! at 1280 and at a phone's 390×844, and mass actions that ask first, naming
//! the count the server will act on.

use muster_domain::{AuthStatus, Role};
use muster_store::seed::SeedUser;
use serde_json::json;

use crate::support::webdriver::Browser;
use crate::support::{ADMIN_PASSWORD, TestApp, TestDb};

const FIRST: [&str; 8] = ["Anna", "Émile", "Zoë", "Lars", "Mei", "Omar", "Priya", "Jürgen"];
const LAST: [&str; 10] = [
    "Smith", "van Dijk", "Vance", "Zhang", "Åberg", "Müller", "O'Neil", "Ng", "García", "Kowalski",
];

/// `n` users in Main, written as `muster seed` writes them (an Argon2 hash each would take minutes);
/// every seventh is locked. Then the users of `named` (username, last name).
async fn seed(app: &TestApp, n: i64, named: &[(&str, &str)]) {
    let mut conn = app.store().conn().await.unwrap();
    let main = muster_store::organizations::find_by_name(&mut conn, "Main")
        .await
        .unwrap()
        .unwrap();
    let first_id = muster_store::seed::next_id(&mut conn, "users").await.unwrap();
    let user = |id: i64, username: String, first: &str, last: &str, locked: bool| SeedUser {
        id,
        email: format!("{username}@example.com"),
        username,
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        enabled: true,
        auth_status: if locked { AuthStatus::Locked } else { AuthStatus::Active },
        failed_login_count: 0,
        login_count: 0,
        last_login_at: None,
        created_at: 1_764_000_000_000 + id,
        updated_at: 1_764_000_000_000 + id,
        roles: vec![Role::User],
        organizations: vec![(main.id, main.name.clone())],
    };
    let mut all: Vec<SeedUser> = (0..n)
        .map(|i| {
            let (f, l) = (FIRST[(i % 8) as usize], LAST[(i % 10) as usize]);
            user(first_id + i, format!("user{i:05}"), f, l, i % 7 == 0)
        })
        .collect();
    for (i, (username, last)) in named.iter().enumerate() {
        all.push(user(
            first_id + n + i as i64,
            (*username).to_owned(),
            "Sam",
            last,
            false,
        ));
    }
    for batch in all.chunks(500) {
        muster_store::seed::insert_users(
            &mut conn,
            batch,
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$ZmFrZWhhc2g",
        )
        .await
        .unwrap();
    }
}

async fn enabled(app: &TestApp, ids: Vec<i64>) -> Vec<bool> {
    let mut v = Vec::new();
    for id in ids {
        v.push(app.user(id).await.enabled);
    }
    v
}

async fn grid_names(b: &Browser) -> Vec<String> {
    let v = b
        .execute(
            "return Array.from(document.querySelectorAll('#users-grid tbody tr')).map(r => r.dataset.username)",
            json!([]),
        )
        .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// How far the page scrolls sideways (0: not at all).
async fn sideways(b: &Browser) -> i64 {
    b.execute(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
        json!([]),
    )
    .await
    .as_i64()
    .unwrap()
}

/// The elements that reach past the right edge of the window, for a failure's message.
async fn past_the_edge(b: &Browser) -> String {
    b.execute(
        "var w = document.documentElement.clientWidth; return Array.from(document.querySelectorAll('body *'))\
         .filter(e => e.getBoundingClientRect().right > w + 0.5)\
         .map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))\
         .slice(0, 12).join(', ')",
        json!([]),
    )
    .await
    .to_string()
}

/// Wait until the URL satisfies `accept` (after a click that navigates).
async fn wait_url(b: &Browser, what: &str, accept: impl Fn(&str) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let url = b.current_url().await;
        if accept(&url) && b.try_find("#users-grid").await.is_some() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "URL {what} never came; it is {url}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn current_page(b: &Browser) -> String {
    b.text("#pager a.page-number.current").await
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_grid_search_chips_pager_sort_and_widths_with_5000_users() {
    let app = TestApp::spawn().await;
    let named = [
        ("sortz", "Zhang"),
        ("sortv", "Vance"),
        ("sortd", "van Dijk"),
        ("sorte", "émile"),
        ("sorta", "Adams"),
        ("sortu", "ÜBEL"),
    ];
    seed(&app, 5000, &named).await;
    let b = Browser::start().await;
    b.resize(1440, 900).await;
    b.login(&app.base, "admin", ADMIN_PASSWORD).await;

    // the search box is on screen without opening anything, and its results are above the fold
    b.goto(&app.url("/admin/users?view=all")).await;
    assert_eq!(b.text("#total-count").await, "5,007");
    b.type_into("#f-q", "smith").await;
    b.click("#apply-filters").await;
    b.find("#filter-chips li[data-key='q']").await;
    assert_eq!(b.text("#total-count").await, "500");
    let fold = b
        .execute(
            "var r = document.querySelector('#users-grid tbody tr').getBoundingClientRect(); \
             var q = document.getElementById('f-q').getBoundingClientRect(); \
             return [r.top, r.bottom, q.top, q.bottom, window.innerHeight, window.innerWidth]",
            json!([]),
        )
        .await;
    let f: Vec<f64> = fold.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(f[5], 1440.0, "the window is 1440 wide: {f:?}");
    assert!(f[2] >= 0.0 && f[3] < f[4], "the search box is on screen: {f:?}");
    assert!(f[1] < f[4] / 2.0, "the first result is high above the fold: {f:?}");
    // the rare filters and the columns wait behind their controls
    assert_eq!(
        b.execute(
            "return !document.getElementById('f-created-from').checkVisibility()",
            json!([])
        )
        .await,
        json!(true),
        "dates are behind More filters"
    );
    assert_eq!(
        b.execute(
            "return !document.getElementById('col-email').checkVisibility()",
            json!([])
        )
        .await,
        json!(true),
        "columns are behind Columns"
    );

    // chips: one per active filter, each × drops only its own
    b.click("#status-filter summary").await;
    b.click("#f-status-locked").await;
    b.click("#apply-status").await;
    b.find("#filter-chips li[data-key='status']").await;
    assert_eq!(b.text("#filter-chips li[data-key='status']").await, "Status: Locked ×");
    assert_eq!(
        b.text("#total-count").await,
        "72",
        "Smiths locked: every 70th of 5,000, rounded up"
    );
    if let Ok(path) = std::env::var("MUSTER_GRID_SCREENSHOT") {
        // docs/grid.png: MUSTER_GRID_SCREENSHOT=$PWD/docs/grid.png cargo test … browser_grid_search
        b.screenshot(std::path::Path::new(&path)).await;
    }
    b.click("#more-filters summary").await;
    assert_eq!(
        sideways(&b).await,
        0,
        "an open popover stays inside the page: {}",
        past_the_edge(&b).await
    );
    b.type_into("#f-first", "anna").await;
    b.click("#apply-more").await;
    b.find("#filter-chips li[data-key='first_name']").await;
    assert_eq!(b.find_all("#filter-chips li").await.len(), 3);
    assert!(b.text("#more-filters summary").await.starts_with("More filters (1)"));
    b.click("#filter-chips li[data-key='status'] .chip-remove").await;
    b.wait_gone("#filter-chips li[data-key='status']").await;
    let url = b.current_url().await;
    assert!(
        url.contains("q=smith") && url.contains("first_name=anna") && !url.contains("status="),
        "{url}"
    );
    b.click("#filter-chips li[data-key='first_name'] .chip-remove").await;
    b.wait_gone("#filter-chips li[data-key='first_name']").await;
    assert_eq!(b.text("#total-count").await, "500");
    // the column chooser is compact: its boxes stand in more than one column
    b.click("#columns-panel summary").await;
    assert_eq!(
        sideways(&b).await,
        0,
        "an open popover stays inside the page: {}",
        past_the_edge(&b).await
    );
    let xs = b
        .execute(
            "return new Set(Array.from(document.querySelectorAll('#columns-panel fieldset label')).map(l => Math.round(l.getBoundingClientRect().left))).size",
            json!([]),
        )
        .await;
    assert!(xs.as_i64().unwrap() >= 2, "column chooser in {xs} column(s)");
    b.click("#columns-panel summary").await;

    // the pager: numbers, last, first, go to page, page size
    assert_eq!(current_page(&b).await, "1");
    let numbers = b
        .execute(
            "return Array.from(document.querySelectorAll('#pager a.page-number')).map(a => a.textContent)",
            json!([]),
        )
        .await;
    assert_eq!(numbers, json!(["1", "2", "3", "20"]));
    b.click("#pager a.page-number[aria-label='Page 3']").await;
    wait_url(&b, "page=3", |u| u.contains("page=3")).await;
    assert_eq!(current_page(&b).await, "3");
    b.click("#last-page").await;
    wait_url(&b, "page=20", |u| u.contains("page=20")).await;
    assert_eq!(current_page(&b).await, "20");
    assert!(b.try_find("#next-page").await.is_none() && b.try_find("#last-page").await.is_none());
    b.click("#first-page").await;
    wait_url(&b, "page 1", |u| !u.contains("page=")).await;
    assert_eq!(current_page(&b).await, "1");
    b.type_into("#go-page", "17").await;
    b.click("#go-page-button").await;
    wait_url(&b, "page=17", |u| u.contains("page=17")).await;
    assert_eq!(current_page(&b).await, "17");
    assert!(
        b.current_url().await.contains("q=smith"),
        "going to a page keeps the search"
    );
    b.click("#page-size option[value='50']").await;
    wait_url(&b, "size=50", |u| u.contains("size=50")).await;
    assert_eq!(current_page(&b).await, "1", "a new page size starts at page 1");
    assert_eq!(grid_names(&b).await.len(), 50);
    let last = b
        .execute(
            "var a = document.querySelectorAll('#pager a.page-number'); return a[a.length - 1].textContent",
            json!([]),
        )
        .await;
    assert_eq!(last, json!("10"));
    // names as people read them: case and accents do not count
    b.goto(&app.url("/admin/users?view=all&username=sort&sort=lastName"))
        .await;
    b.find("#users-grid").await;
    assert_eq!(
        grid_names(&b).await,
        ["sorta", "sorte", "sortu", "sortd", "sortv", "sortz"],
        "Adams, émile, ÜBEL, van Dijk, Vance, Zhang"
    );
    b.click("#sort-last_name").await;
    b.find("th.col-last_name[aria-sort='descending']").await;
    assert_eq!(
        grid_names(&b).await,
        ["sortz", "sortv", "sortd", "sortu", "sorte", "sorta"]
    );

    // no sideways scrolling at 1440 and 1280, every column shown
    let every_column = "/admin/users?view=all&col=first_name&col=last_name&col=email&col=username&col=enabled\
                        &col=status&col=organizations&col=roles&col=created_at&col=updated_at&col=last_login";
    b.goto(&app.url(every_column)).await;
    b.find("#users-grid").await;
    assert_eq!(sideways(&b).await, 0, "no sideways scrolling at 1440");
    b.resize(1280, 900).await;
    b.goto(&app.url(every_column)).await;
    b.find("#users-grid").await;
    assert_eq!(
        sideways(&b).await,
        0,
        "no sideways scrolling at 1280: {}",
        past_the_edge(&b).await
    );

    // a phone: the key columns, no sideways scrolling, the row menu inside the screen
    b.resize(390, 844).await;
    b.goto(&app.url("/admin/users?view=all")).await;
    b.find("#users-grid").await;
    assert_eq!(
        sideways(&b).await,
        0,
        "no sideways scrolling at 390: {}",
        past_the_edge(&b).await
    );
    let shown = b
        .execute(
            "var r = document.querySelector('#users-grid tbody tr'); \
             return ['first_name', 'last_name', 'username', 'status', 'email'].map(c => r.querySelector('td.' + c).offsetParent !== null)",
            json!([]),
        )
        .await;
    assert_eq!(
        shown,
        json!([true, true, true, true, false]),
        "the key columns on a phone"
    );
    let grid_fits = b
        .execute(
            "var w = document.getElementById('grid-wrap'); return w.scrollWidth <= w.clientWidth",
            json!([]),
        )
        .await;
    assert_eq!(grid_fits, json!(true), "the grid itself fits the phone");
    let first = grid_names(&b).await[0].clone();
    b.click(&format!("tr[data-username='{first}'] details.rowmenu summary"))
        .await;
    let menu = b
        .execute(
            &format!(
                "var m = document.querySelector(\"tr[data-username='{first}'] .menu\").getBoundingClientRect(); \
                 return [m.left, m.right, m.width, window.innerWidth]"
            ),
            json!([]),
        )
        .await;
    let m: Vec<f64> = menu.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(
        m[2] > 0.0 && m[0] >= 0.0 && m[1] <= m[3],
        "the row menu is inside the screen: {m:?}"
    );
    assert_eq!(sideways(&b).await, 0, "an open row menu does not widen the page");
    // the user page does not scroll sideways on a phone either
    b.click(&format!("tr[data-username='{first}'] .row-view")).await;
    b.find("#general-info").await;
    assert_eq!(
        sideways(&b).await,
        0,
        "the user page at 390: {}",
        past_the_edge(&b).await
    );

    // all 5,007 matching minus one unticked: the question says 5,006, and Cancel changes nothing
    b.resize(1440, 900).await;
    b.goto(&app.url("/admin/users?view=all")).await;
    b.click("#select-all-matching").await;
    let row = grid_names(&b).await[1].clone();
    b.click(&format!("tr[data-username='{row}'] .row-check")).await;
    b.click("#mass-disable").await;
    b.find("#mass-confirm-dialog[open]").await;
    assert_eq!(b.text("#mass-confirm-question").await, "Disable 5,006 users?");
    assert_eq!(b.text("#mass-confirm").await, "Disable");
    b.click("#mass-confirm-dialog [data-close-dialog]").await;
    b.wait_gone("#mass-confirm-dialog[open]").await;
    assert_eq!(b.text("#total-count").await, "5,007");
    let mut conn = app.store().conn().await.unwrap();
    let f = muster_domain::UserFilter {
        view: Some(muster_domain::View::Disabled),
        ..Default::default()
    };
    let disabled = muster_store::users::count(&mut conn, &muster_store::users::Scope::System, &f)
        .await
        .unwrap();
    assert_eq!(disabled, 0, "Cancel disabled nobody");
}

/// The confirmations of the mass actions, on PostgreSQL: ticked rows, all matching with an
/// exception, Enable, Disable and Reset Password, and nothing selected.
#[tokio::test(flavor = "multi_thread")]
async fn browser_mass_actions_ask_first_naming_the_count() {
    let app = TestApp::spawn_on(TestDb::postgres().await).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_user(&format!("mass{i}"), &["User"]).await.id);
    }
    let b = Browser::start().await;
    b.login(&app.base, "admin", ADMIN_PASSWORD).await;
    b.goto(&app.url("/admin/users?view=all&q=mass&sort=username&size=10"))
        .await;
    b.find("#users-grid").await;

    // nothing ticked: no question, a note
    b.click("#mass-disable").await;
    b.wait_text("Select at least one user.").await;
    assert!(b.try_find("#mass-confirm-dialog[open]").await.is_none());

    // two ticked: "Disable 2 users?"; Cancel keeps them, Disable disables them
    b.click("tr[data-username='mass1'] .row-check").await;
    b.click("tr[data-username='mass3'] .row-check").await;
    b.click("#mass-disable").await;
    b.find("#mass-confirm-dialog[open]").await;
    assert_eq!(b.text("#mass-confirm-question").await, "Disable 2 users?");
    b.click("#mass-confirm-dialog [data-close-dialog]").await;
    b.wait_gone("#mass-confirm-dialog[open]").await;
    assert_eq!(enabled(&app, ids.clone()).await, [true; 5]);
    b.click("#mass-disable").await;
    b.find("#mass-confirm-dialog[open]").await;
    b.click("#mass-confirm").await;
    b.wait_flash("2 user(s) were disabled", |t| t == "2 user(s) were disabled")
        .await;
    assert_eq!(enabled(&app, ids.clone()).await, [true, false, true, false, true]);

    // one ticked: "Enable 1 user?"
    b.click("tr[data-username='mass1'] .row-check").await;
    b.click("#mass-enable").await;
    b.find("#mass-confirm-dialog[open]").await;
    assert_eq!(b.text("#mass-confirm-question").await, "Enable 1 user?");
    assert_eq!(b.text("#mass-confirm").await, "Enable");
    b.click("#mass-confirm").await;
    b.wait_flash("1 user(s) were enabled", |t| t == "1 user(s) were enabled")
        .await;

    // all 5 matching, one unticked: the count the server acts on
    b.click("#select-all-matching").await;
    b.click("tr[data-username='mass2'] .row-check").await;
    b.click("#mass-disable").await;
    b.find("#mass-confirm-dialog[open]").await;
    assert_eq!(b.text("#mass-confirm-question").await, "Disable 4 users?");
    b.click("#mass-confirm").await;
    // mass3 was disabled already: four selected, three changed
    b.wait_flash("3 user(s) were disabled", |t| t == "3 user(s) were disabled")
        .await;
    assert_eq!(enabled(&app, ids.clone()).await, [false, false, true, false, false]);
    b.click("#select-all-matching").await;
    b.click("#mass-enable").await;
    b.find("#mass-confirm-dialog[open]").await;
    assert_eq!(b.text("#mass-confirm-question").await, "Enable 5 users?");
    b.click("#mass-confirm").await;
    b.wait_flash("4 user(s) were enabled", |t| t == "4 user(s) were enabled")
        .await;

    // Reset Password: all matching, then two ticked, confirmed with Reset
    b.click("#select-all-matching").await;
    b.click("#mass-reset").await;
    b.find("#mass-reset-dialog[open]").await;
    assert_eq!(b.text("#mass-reset-title").await, "Reset the password of 5 users?");
    b.click("#mass-reset-dialog [data-close-dialog]").await;
    b.wait_gone("#mass-reset-dialog[open]").await;
    b.goto(&app.url("/admin/users?view=all&q=mass&sort=username&size=10"))
        .await;
    b.click("tr[data-username='mass0'] .row-check").await;
    b.click("tr[data-username='mass4'] .row-check").await;
    b.click("#mass-reset").await;
    b.find("#mass-reset-dialog[open]").await;
    assert_eq!(b.text("#mass-reset-title").await, "Reset the password of 2 users?");
    assert_eq!(b.text("#mass-reset-confirm").await, "Reset");
    b.click("#mass-reset-confirm").await;
    b.wait_flash("Password reset", |t| t.contains("Password reset")).await;
    crate::csv_support::run_jobs(&app).await;
    let statuses: Vec<AuthStatus> = {
        let mut v = Vec::new();
        for id in &ids {
            v.push(app.user(*id).await.auth_status);
        }
        v
    };
    use AuthStatus::{Active, PasswordReset};
    assert_eq!(statuses, [PasswordReset, Active, Active, Active, PasswordReset]);
}

/// Without the page's script the mass buttons post to a confirmation page that names the
/// count; nothing changes until its button is pressed.
#[tokio::test(flavor = "multi_thread")]
async fn without_script_the_mass_actions_ask_on_a_page_naming_the_count() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_user(&format!("mass{i}"), &["User"]).await.id.to_string());
    }
    let c = app.signed_in("admin", ADMIN_PASSWORD).await;
    let grid = "/admin/users?view=all&q=mass";
    let query = "view=all&q=mass";

    let r = c
        .post(
            grid,
            "/admin/users/mass/confirm",
            &[
                ("query", query),
                ("action", "disable"),
                ("all", "1"),
                ("except", &ids[2]),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<h1 id=\"mass-question\">Disable 4 users?</h1>"),
        "{html}"
    );
    assert!(html.contains(">Disable</button>") && html.contains("action=\"/admin/users/mass\""));
    for id in &ids {
        assert!(app.user(id.parse().unwrap()).await.enabled, "asking changed nothing");
    }
    // the page's form, posted as a browser would
    let token = crate::support::csrf_in(&html).unwrap();
    let r = c
        .post_raw(
            "/admin/users/mass",
            &[
                ("csrf", &token),
                ("query", query),
                ("action", "disable"),
                ("all", "1"),
                ("except", &ids[2]),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(c.get_text(grid).await.contains("4 user(s) were disabled"));

    let html = c
        .post(
            grid,
            "/admin/users/mass/confirm",
            &[
                ("query", query),
                ("action", "reset_password"),
                ("id", &ids[0]),
                ("id", &ids[1]),
            ],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Reset the password of 2 users?") && html.contains(">Reset</button>"));
    assert!(html.contains("mass0@example.com") && !html.contains("mass3@example.com"));
    let html = c
        .post(
            grid,
            "/admin/users/mass/confirm",
            &[("query", query), ("action", "enable"), ("id", &ids[3])],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Enable 1 user?"));
    // the Reset Password confirmation page names the count in its question too
    let html = c
        .get_text(&format!(
            "/admin/users/mass/reset-password?ids={}&ids={}",
            ids[0], ids[1]
        ))
        .await;
    assert!(html.contains("Reset the password of 2 users?"), "{html}");
    // nothing selected: back to the grid with the reason
    let r = c
        .post(
            grid,
            "/admin/users/mass/confirm",
            &[("query", query), ("action", "disable")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(c.get_text(grid).await.contains("Select at least one user."));
}

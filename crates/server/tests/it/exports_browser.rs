//! The Exports and Import pages in a real browser: start an export, download
//! it, and upload a file for a dry run (multipart with the CSRF token).

use crate::csv_support::run_jobs;
use crate::support::webdriver::Browser;
use crate::support::{ADMIN_PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn an_administrator_exports_and_dry_runs_an_import_in_the_browser() {
    let app = TestApp::spawn().await;
    app.create_user("someone", &["User"]).await;
    let b = Browser::start().await;
    b.login(&app.base, "admin", ADMIN_PASSWORD).await;
    b.goto(&app.url("/admin/exports")).await;
    b.wait_text("No exports yet.").await;
    b.click("#export-all").await;
    b.wait_text("You will get an email").await;
    assert_eq!(b.text("#exports .status").await, "queued");
    run_jobs(&app).await;
    // the page reloads itself while an export is in progress
    b.find("#exports a.download").await;
    assert!(b.text("#exports .progress").await.contains("2 of 2"));
    b.screenshot(&app.data_dir().join("exports.png")).await;

    b.click("#import-link").await;
    let csv = app.data_dir().join("upload.csv");
    std::fs::write(
        &csv,
        "username,email,first_name,last_name,organizations,roles\n\
         fresh,fresh@example.com,Fresh,User,Main,User\n\
         bad name,x@example.com,A,B,Main,User\n",
    )
    .unwrap();
    b.type_into("#file", csv.to_str().unwrap()).await;
    b.click("#import-form button[type=submit]").await;
    b.find("#import-report").await;
    assert_eq!(b.text("#created").await, "1");
    assert_eq!(b.text("#rejected").await, "1");
    assert!(b.text("#rejected-rows").await.contains("username"));
    b.screenshot(&app.data_dir().join("import.png")).await;
    let mut conn = app.store().conn().await.unwrap();
    assert!(
        muster_store::users::find_by_username(&mut conn, "fresh")
            .await
            .unwrap()
            .is_none(),
        "the dry run (checked by default) created nobody"
    );
    if let Ok(dir) = std::env::var("MUSTER_SCREENSHOTS") {
        let _ = std::fs::copy(app.data_dir().join("exports.png"), format!("{dir}/exports.png"));
        let _ = std::fs::copy(app.data_dir().join("import.png"), format!("{dir}/import.png"));
    }
}

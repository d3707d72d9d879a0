//! The sandbox at `/api/docs`, driven as a person would: Authorize with a key,
//! then "Try it out" on the users' list, one user and a PATCH. Each must call
//! its own URL (Swagger UI keys operations by operationId: shared ids made it
//! run another operation's request) and get a 200.

use serde_json::json;

use crate::api_client::key_for;
use crate::support::TestApp;
use crate::support::webdriver::Browser;

/// WebDriver keys: Control+A, then release Control; Backspace.
const SELECT_ALL: &str = "\u{E009}a\u{E000}";
const BACKSPACE: &str = "\u{E003}";

/// Expand the operation, switch "Try it out" on if it is not yet, and return its block's selector.
async fn open(b: &Browser, tag: &str, operation_id: &str) -> String {
    let block = format!("#operations-{tag}-{operation_id}");
    b.find(&block).await;
    if b.try_find(&format!("{block} .opblock-body")).await.is_none() {
        b.click(&format!("{block} .opblock-summary-control")).await;
    }
    let try_out = b.find(&format!("{block} .try-out__btn")).await;
    if b.text_el(&try_out).await.contains("Try it out") {
        b.click_el(&try_out).await;
    }
    b.find(&format!("{block} .execute")).await;
    block
}

/// Execute and return the request URL and the status Swagger UI shows.
/// Execute and return the request URL and the status Swagger UI shows, with the curl command and
/// the response's text in the status, for the message of a failure.
async fn execute(b: &Browser, block: &str) -> (String, String) {
    b.click(&format!("{block} .execute")).await;
    let url = b.text(&format!("{block} .request-url pre")).await;
    let status = b
        .text(&format!("{block} .live-responses-table .response .response-col_status"))
        .await;
    let status = status.trim().to_owned();
    if status != "200" {
        let curl = b.text(&format!("{block} .curl-command")).await;
        let answer = b
            .text(&format!(
                "{block} .live-responses-table .response .response-col_description"
            ))
            .await;
        return (url.trim().to_owned(), format!("{status}: {curl} → {answer}"));
    }
    (url.trim().to_owned(), status)
}

#[tokio::test(flavor = "multi_thread")]
async fn try_it_out_runs_each_users_operation_on_its_own_url() {
    let app = TestApp::spawn().await;
    let jdoe = app.create_user("jdoe", &["User"]).await;
    let admin = app.user_by_name("admin").await;
    let key = key_for(&app, admin.id, None).await;
    let b = Browser::start().await;

    b.goto(&app.url("/api/docs/")).await;
    b.find(".opblock").await;

    // Authorize: the bearer key, once for every request that follows
    b.click(".auth-wrapper .btn.authorize").await;
    b.type_into(".modal-ux input[type=text]", &key).await;
    b.click(".modal-ux .auth-btn-wrapper .btn.authorize").await;
    b.find(".modal-ux .auth-btn-wrapper .btn-done").await;
    b.click(".modal-ux .auth-btn-wrapper .btn-done").await;
    b.wait_gone(".modal-ux").await;

    // GET /users
    let list = open(&b, "users", "listUsers").await;
    let (url, status) = execute(&b, &list).await;
    assert_eq!(url, app.url("/api/users"), "list users ran another request");
    assert_eq!(status, "200", "list users");

    // GET /users/{id}
    let get = open(&b, "users", "getUser").await;
    b.type_into(&format!("{get} tr[data-param-name=\"id\"] input"), &jdoe.id.to_string())
        .await;
    let (url, status) = execute(&b, &get).await;
    assert_eq!(
        url,
        app.url(&format!("/api/users/{}", jdoe.id)),
        "get user ran another request"
    );
    assert_eq!(status, "200", "get user");

    // PATCH /users/{id}
    let patch = open(&b, "users", "updateUser").await;
    b.type_into(
        &format!("{patch} tr[data-param-name=\"id\"] input"),
        &jdoe.id.to_string(),
    )
    .await;
    let body = json!({"data": {"type": "users", "id": jdoe.id.to_string(), "attributes": {"firstName": "Janet"}}});
    // the textarea holds an example: select it all and type over it (a WebDriver clear does not reach React's state)
    b.type_into(
        &format!("{patch} textarea.body-param__text"),
        &format!("{SELECT_ALL}{BACKSPACE}{body}"),
    )
    .await;
    let (url, status) = execute(&b, &patch).await;
    assert_eq!(
        url,
        app.url(&format!("/api/users/{}", jdoe.id)),
        "update user ran another request"
    );
    assert_eq!(status, "200", "update user");
    assert_eq!(
        app.user(jdoe.id).await.first_name,
        "Janet",
        "the PATCH reached the user"
    );
}

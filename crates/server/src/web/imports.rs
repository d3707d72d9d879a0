//! The Import page `/admin/import`: choose the file once. A dry run reports
//! every rejected row with every reason and keeps the upload (in the
//! database: bound to the admin who uploaded it, for an hour); **Apply**
//! imports that same upload and removes it. Users created without a password
//! hash can be sent the password set-up mail (a reset link) at once.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use muster_domain::permission::perm;
use muster_domain::{Error as DomainError, UserFilter};
use muster_store::import_uploads;

use super::PageError;
use super::confirm::field;
use super::session::{Layout, ReqCtx, Viewer};
use crate::app::AppState;
use crate::clock;
use crate::error::AppError;
use crate::services::imports::{self, Report};

/// How long a dry run's upload waits for Apply.
const UPLOAD_TTL_MS: i64 = 60 * 60 * 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/import", get(import_form).post(import_upload))
        .route("/admin/import/{id}/apply", post(apply))
}

#[derive(Template, WebTemplate)]
#[template(path = "import.html")]
struct ImportPage {
    layout: Layout,
    report: Option<Report>,
    error: Option<String>,
    /// After a dry run: the kept upload that Apply imports, and its file name.
    upload: Option<(i64, String)>,
    /// What became of the set-up mails, after a real import.
    mail_note: Option<String>,
}

impl ImportPage {
    fn new(layout: Layout) -> Self {
        ImportPage {
            layout,
            report: None,
            error: None,
            upload: None,
            mail_note: None,
        }
    }
}

async fn import_form(layout: Layout, viewer: Viewer) -> Result<ImportPage, PageError> {
    viewer.actor.allow::<perm::ImportUsers>()?;
    Ok(ImportPage::new(layout))
}

fn bad_upload(e: impl std::fmt::Display) -> AppError {
    DomainError::invalid("file", format!("the upload could not be read: {e}")).into()
}

fn unprocessable(page: ImportPage) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
}

/// The report's page: 422 while rows are rejected, so a script notices.
fn report_page(mut page: ImportPage, report: Report) -> Response {
    let status = if report.rejected_rows > 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    page.report = Some(report);
    (status, page).into_response()
}

/// Import `data`; a file that cannot be read at all is the page's error, not a 500.
async fn run(
    state: &AppState,
    viewer: &Viewer,
    ctx: &crate::services::Ctx,
    data: &[u8],
    dry_run: bool,
) -> Result<Result<Report, String>, PageError> {
    let grant = viewer.actor.allow::<perm::ImportUsers>()?;
    match imports::import_users(
        &state.store,
        &grant,
        ctx,
        std::io::Cursor::new(data),
        dry_run,
        &mut |_| {},
    )
    .await
    {
        Ok(r) => {
            if !dry_run {
                // imported hashes of a slower class raise the sign-in failure floor before anyone tries them
                crate::services::foreign_hashes::calibrate_failure_floor(&state.store, &state.hasher).await?;
            }
            Ok(Ok(r))
        }
        Err(AppError::Domain(DomainError::Invalid(fields))) => {
            let message = fields.iter().map(|f| f.message.clone()).collect::<Vec<_>>().join("; ");
            Ok(Err(format!("The file was not imported: {message}")))
        }
        Err(e) => Err(e.into()),
    }
}

/// Send the password set-up mail (a reset link, as Reset Password sends) to
/// the users the import created without a password; a sentence for the page.
async fn send_setup_mail(
    state: &AppState,
    viewer: &Viewer,
    ctx: &crate::services::Ctx,
    report: &Report,
) -> Result<Option<String>, PageError> {
    if report.created_without_password.is_empty() {
        return Ok(None);
    }
    let grant = viewer.actor.allow::<perm::ResetPasswords>()?;
    let mut ids = Vec::with_capacity(report.created_without_password.len());
    let mut conn = state.store.conn().await?;
    for name in &report.created_without_password {
        if let Some(u) = muster_store::users::find_by_username(&mut conn, name).await? {
            ids.push(u.id);
        }
    }
    drop(conn);
    let users = UserFilter {
        only_ids: Some(ids),
        ..Default::default()
    };
    let r = crate::services::passwords::mass_reset_password(state.deps(), &grant, ctx, &users).await?;
    let mut note = format!("{} user(s) were sent the password set-up mail.", r.queued);
    if r.skipped_disabled > 0 {
        note.push_str(&format!(" {} disabled user(s) were not.", r.skipped_disabled));
    }
    Ok(Some(note))
}

/// The form: `csrf` (first), `file`, `dry_run`, `send_mail` (a checkbox: present when ticked).
async fn import_upload(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    mut form: Multipart,
) -> Result<Response, PageError> {
    viewer.actor.allow::<perm::ImportUsers>()?;
    let mut data: Option<Bytes> = None;
    let mut filename = String::new();
    let mut dry_run = false;
    let mut send_mail = false;
    while let Some(f) = form.next_field().await.map_err(bad_upload)? {
        match f.name() {
            Some("file") => {
                filename = f.file_name().unwrap_or("").chars().take(200).collect();
                data = Some(f.bytes().await.map_err(bad_upload)?);
            }
            Some("dry_run") => dry_run = !f.text().await.map_err(bad_upload)?.is_empty(),
            Some("send_mail") => send_mail = !f.text().await.map_err(bad_upload)?.is_empty(),
            _ => {}
        }
    }
    let mut page = ImportPage::new(layout);
    let Some(data) = data.filter(|d| !d.is_empty()) else {
        page.error = Some("Choose a CSV file to import.".to_owned());
        return Ok(unprocessable(page));
    };
    let report = match run(&state, &viewer, &ctx, &data, dry_run).await? {
        Ok(r) => r,
        Err(message) => {
            page.error = Some(message);
            return Ok(unprocessable(page));
        }
    };
    let now = clock::now();
    let mut conn = state.store.conn().await?;
    // expired uploads go at every upload and Apply, and in the jobs' periodic sweep
    import_uploads::delete_expired(&mut conn, now).await?;
    if dry_run {
        let id = import_uploads::insert(&mut conn, viewer.user.id, &filename, &data, now, now + UPLOAD_TTL_MS).await?;
        page.upload = Some((id, filename));
    } else if send_mail {
        drop(conn);
        page.mail_note = send_setup_mail(&state, &viewer, &ctx, &report).await?;
    }
    Ok(report_page(page, report))
}

/// Apply a dry run's upload: only its uploader's, only once, only before it expires.
async fn apply(
    State(state): State<AppState>,
    layout: Layout,
    viewer: Viewer,
    ReqCtx(ctx): ReqCtx,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    viewer.actor.allow::<perm::ImportUsers>()?;
    let send_mail = field(&form, "send_mail").is_some_and(|v| !v.is_empty());
    let now = clock::now();
    let mut conn = state.store.conn().await?;
    import_uploads::delete_expired(&mut conn, now).await?;
    let taken = import_uploads::take(&mut conn, id, viewer.user.id, now).await?;
    drop(conn);
    let mut page = ImportPage::new(layout);
    let Some((_, data)) = taken else {
        page.error = Some(
            "This upload is no longer there: it was applied already, it expired, or it is not yours. \
             Choose the file again."
                .to_owned(),
        );
        return Ok((StatusCode::GONE, page).into_response());
    };
    let report = match run(&state, &viewer, &ctx, &data, false).await? {
        Ok(r) => r,
        Err(message) => {
            page.error = Some(message);
            return Ok(unprocessable(page));
        }
    };
    if send_mail {
        page.mail_note = send_setup_mail(&state, &viewer, &ctx, &report).await?;
    }
    Ok(report_page(page, report))
}

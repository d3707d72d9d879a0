//! AppError → an HTML page (status, message, request time), once for the whole UI.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use muster_domain::Error as DomainError;

use crate::error::AppError;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
}

/// An error from a page handler.
#[derive(Debug)]
pub struct PageError(pub AppError);

/// What a page and the API say when the database's disk is full.
pub const DISK_FULL: &str =
    "The database's disk is full: nothing was changed. An operator must free space, then try again.";

impl<E: Into<AppError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

pub fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = ErrorPage {
        status: status.as_u16(),
        title,
        message,
    }
    .render()
    .unwrap_or_else(|_| message.to_owned());
    (status, Html(body)).into_response()
}

/// The plain page shown while the database is away (`db_health`): 503, no layout, no session needed.
pub fn unavailable_page() -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "muster is temporarily unavailable: it cannot reach its database. Nothing you saved is lost; \
         try again in a minute.",
    )
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self.0 {
            AppError::Unauthenticated => Redirect::to("/login").into_response(),
            AppError::Domain(DomainError::NotFound(what)) => page(
                StatusCode::NOT_FOUND,
                "Not found",
                &format!("The {what} was not found."),
            ),
            AppError::Domain(DomainError::Forbidden(why)) => page(StatusCode::FORBIDDEN, "Forbidden", &why),
            AppError::Domain(e @ DomainError::ForbiddenField(_)) => {
                page(StatusCode::FORBIDDEN, "Forbidden", &e.to_string())
            }
            AppError::Domain(DomainError::InvalidCredentials) => page(
                StatusCode::UNAUTHORIZED,
                "Not signed in",
                "Invalid username or password.",
            ),
            AppError::Domain(e @ (DomainError::Invalid(_) | DomainError::Conflict { .. })) => {
                page(StatusCode::UNPROCESSABLE_ENTITY, "Invalid input", &e.to_string())
            }
            AppError::Domain(DomainError::Refused(why)) => page(StatusCode::CONFLICT, "Not possible", &why),
            AppError::TooManyAttempts { retry_after_secs } => {
                let minutes = retry_after_secs.div_ceil(60);
                let mut resp = page(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many attempts",
                    &format!(
                        "Too many failed sign-ins from your address. Try again in {minutes} minute{}.",
                        if minutes == 1 { "" } else { "s" }
                    ),
                );
                resp.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, retry_after_secs.into());
                resp
            }
            AppError::Unavailable => {
                let mut resp = unavailable_page();
                resp.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    crate::db_health::RETRY_AFTER_SECS.into(),
                );
                resp
            }
            AppError::DiskFull => page(StatusCode::SERVICE_UNAVAILABLE, "Out of disk space", DISK_FULL),
            e @ (AppError::Store(_) | AppError::Fault { .. }) => {
                tracing::error!(error = %crate::error::chain(&e), "internal error");
                page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The request failed on our side; it was logged. Nothing was changed.",
                )
            }
            AppError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The request failed on our side; it was logged. Nothing was changed.",
                )
            }
        }
    }
}

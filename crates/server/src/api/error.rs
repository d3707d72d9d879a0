//! AppError → a JSON:API error document, once for the whole API.
//!
//! Every error names what caused it in `source.pointer`: the attribute of the
//! request document (`/data/attributes/email`), the query parameter
//! (`/filter[foo]`, also given as `source.parameter`), or `""` (the request
//! as a whole) when nothing narrower is to blame.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use muster_domain::Error as DomainError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::AppError;

/// `{"errors": [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDocument {
    pub errors: Vec<ErrorObject>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorObject {
    /// The HTTP status, as a string.
    pub status: String,
    /// A stable, machine-readable code (`invalid`, `not_found`, …).
    pub code: String,
    pub title: String,
    pub detail: String,
    pub source: ErrorSource,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorSource {
    /// A JSON pointer to what caused the error; `""` is the whole request.
    pub pointer: String,
    /// The query parameter that caused the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// The request header that caused the error (`Authorization`, `Content-Type`, `Accept`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

/// An API failure: a status, its error objects, and extra headers.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub errors: Vec<ErrorObject>,
    pub retry_after: Option<u64>,
}

/// Query parameters: `sort`, `include` and the families `filter[…]`, `page[…]`, `fields[…]`.
fn is_parameter(field: &str) -> bool {
    field == "sort" || field == "include" || field.contains('[')
}

fn camel(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Where a domain field name points: a parameter, a pointer given as is, or an attribute.
pub fn source_of(field: &str) -> ErrorSource {
    if field.is_empty() {
        ErrorSource {
            pointer: "/data".to_owned(),
            parameter: None,
            header: None,
        }
    } else if field.starts_with('/') {
        ErrorSource {
            pointer: field.to_owned(),
            parameter: None,
            header: None,
        }
    } else if is_parameter(field) {
        ErrorSource {
            pointer: format!("/{field}"),
            parameter: Some(field.to_owned()),
            header: None,
        }
    } else {
        ErrorSource {
            pointer: format!("/data/attributes/{}", camel(field)),
            parameter: None,
            header: None,
        }
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, title: &str, detail: impl Into<String>, source: ErrorSource) -> Self {
        ApiError {
            status,
            errors: vec![ErrorObject {
                status: status.as_u16().to_string(),
                code: code.to_owned(),
                title: title.to_owned(),
                detail: detail.into(),
                source,
            }],
            retry_after: None,
        }
    }

    fn whole(status: StatusCode, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self::new(
            status,
            code,
            title,
            detail,
            ErrorSource {
                pointer: String::new(),
                parameter: None,
                header: None,
            },
        )
    }

    /// A PATCH whose `data.id` names another resource than the path: 409, as JSON:API says.
    pub fn check_same_id(given: Option<&str>, id: i64) -> Result<(), ApiError> {
        match given {
            Some(given) if given != id.to_string() => Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "Id mismatch",
                format!("data.id {given:?} is not the id in the path ({id})"),
                source_of("/data/id"),
            )),
            _ => Ok(()),
        }
    }

    /// A malformed request: bad JSON, a wrong type, a bad path segment.
    pub fn bad_request(detail: impl Into<String>, pointer: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Bad request",
            detail,
            ErrorSource {
                pointer: pointer.into(),
                parameter: None,
                header: None,
            },
        )
    }

    /// A query parameter that cannot be understood: named in `source.parameter`
    /// (whatever its name: an unknown one must not look like an attribute).
    pub fn parameter(detail: impl Into<String>, parameter: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "Invalid query parameter",
            detail,
            ErrorSource {
                pointer: format!("/{parameter}"),
                parameter: Some(parameter.to_owned()),
                header: None,
            },
        )
    }

    fn header(status: StatusCode, code: &str, title: &str, detail: &str, header: &str) -> Self {
        Self::new(
            status,
            code,
            title,
            detail,
            ErrorSource {
                pointer: String::new(),
                parameter: None,
                header: Some(header.to_owned()),
            },
        )
    }

    pub fn unauthenticated(detail: &str) -> Self {
        Self::header(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Not authenticated",
            detail,
            "Authorization",
        )
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::whole(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many failed attempts",
            format!("Too many requests with an invalid API key from this address; retry in {retry_after} s."),
        );
        e.retry_after = Some(retry_after);
        e
    }

    pub fn unsupported_media_type() -> Self {
        Self::header(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
            "Send the request body as application/vnd.api+json (no media type parameters but \
             profile; no extension) or application/json.",
            "Content-Type",
        )
    }

    pub fn not_acceptable() -> Self {
        Self::header(
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
            "Not acceptable",
            "Accept names application/vnd.api+json only with media type parameters other than \
             profile, or with an extension muster does not support.",
            "Accept",
        )
    }

    pub fn route_not_found() -> Self {
        Self::whole(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            "There is no such endpoint; see /api/docs.",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::whole(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
            "This endpoint does not support the method.",
        )
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Unauthenticated | AppError::Domain(DomainError::InvalidCredentials) => {
                ApiError::unauthenticated("A valid API key is required: Authorization: Bearer <key>.")
            }
            AppError::Domain(DomainError::NotFound(what)) => ApiError::whole(
                StatusCode::NOT_FOUND,
                "not_found",
                "Not found",
                format!("The {what} was not found."),
            ),
            AppError::Domain(DomainError::Forbidden(why)) => {
                ApiError::whole(StatusCode::FORBIDDEN, "forbidden", "Forbidden", why)
            }
            AppError::Domain(DomainError::ForbiddenField(f)) => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                format!("{}: {}", camel(&f.field), f.message),
                source_of(&f.field),
            ),
            AppError::Domain(DomainError::Refused(why)) => {
                ApiError::whole(StatusCode::CONFLICT, "conflict", "Not possible now", why)
            }
            AppError::Domain(DomainError::Conflict { field }) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "Already taken",
                format!("{field} is already taken"),
                source_of(&field),
            ),
            AppError::Domain(DomainError::Invalid(fields)) => {
                // a query parameter is a malformed request (400); a bad attribute is a semantic one (422)
                let status = if fields.iter().any(|f| is_parameter(&f.field)) {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                let mut errors: Vec<ErrorObject> = fields
                    .iter()
                    .map(|f| ErrorObject {
                        status: status.as_u16().to_string(),
                        code: "invalid".to_owned(),
                        title: "Invalid value".to_owned(),
                        detail: if f.field.is_empty() || f.field.starts_with('/') {
                            f.message.clone()
                        } else {
                            format!("{}: {}", camel(&f.field), f.message)
                        },
                        source: source_of(&f.field),
                    })
                    .collect();
                if errors.is_empty() {
                    errors.push(
                        ApiError::whole(status, "invalid", "Invalid request", "invalid input")
                            .errors
                            .remove(0),
                    );
                }
                ApiError {
                    status,
                    errors,
                    retry_after: None,
                }
            }
            AppError::TooManyAttempts { retry_after_secs } => ApiError::rate_limited(retry_after_secs),
            AppError::Unavailable => {
                let mut e = ApiError::whole(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Temporarily unavailable",
                    "The database cannot be reached right now; nothing was changed. Retry in a few seconds.",
                );
                e.retry_after = Some(crate::db_health::RETRY_AFTER_SECS);
                e
            }
            AppError::DiskFull => ApiError::whole(
                StatusCode::SERVICE_UNAVAILABLE,
                "disk_full",
                "Out of disk space",
                crate::web::error::DISK_FULL,
            ),
            e @ (AppError::Store(_) | AppError::Fault { .. }) => {
                tracing::error!(error = %crate::error::chain(&e), "internal error in the API");
                ApiError::whole(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "The request failed on our side; it was logged. Nothing was changed.",
                )
            }
            AppError::Internal(detail) => {
                tracing::error!(%detail, "internal error in the API");
                ApiError::whole(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "The request failed on our side; it was logged. Nothing was changed.",
                )
            }
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        AppError::from(e).into()
    }
}

impl From<muster_store::Error> for ApiError {
    fn from(e: muster_store::Error) -> Self {
        AppError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut resp = super::document(status, &ErrorDocument { errors: self.errors });
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"muster\""),
            );
        }
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_pointers() {
        assert_eq!(source_of("first_name").pointer, "/data/attributes/firstName");
        assert_eq!(source_of("email").pointer, "/data/attributes/email");
        let p = source_of("filter[colour]");
        assert_eq!(p.parameter.as_deref(), Some("filter[colour]"));
        assert_eq!(source_of("/data/type").pointer, "/data/type");
        assert_eq!(source_of("").pointer, "/data");
        // a query parameter never looks like an attribute
        let p = source_of("include");
        assert_eq!(
            (p.pointer.as_str(), p.parameter.as_deref()),
            ("/include", Some("include"))
        );
        let p = source_of("fields[users]");
        assert_eq!(p.parameter.as_deref(), Some("fields[users]"));
        let e = ApiError::parameter("unknown query parameter \"colour\"", "colour");
        assert_eq!(e.errors[0].source.parameter.as_deref(), Some("colour"));
        assert!(!e.errors[0].source.pointer.contains("attributes"));
    }

    #[test]
    fn unknown_sort_is_a_400_naming_it() {
        let e: ApiError = muster_domain::UserSort::parse("colour").unwrap_err().into();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.errors[0].detail.contains("colour"));
        assert_eq!(e.errors[0].source.parameter.as_deref(), Some("sort"));
    }

    #[test]
    fn internal_details_stay_in_the_log() {
        let e: ApiError = AppError::Internal("db password wrong".into()).into();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.errors[0].detail.contains("password"));
    }
}

//! The REST API under `/api`: JSON:API documents, `Authorization: Bearer
//! <API key>`, one error mapping (`error.rs`). Its router has none of the UI's
//! session or CSRF middleware: a key is sent on purpose, a cookie is not.
//!
//! The OpenAPI document is generated from the handlers (`#[utoipa::path]`)
//! and served at `/api/openapi.json`; `/api/docs` is a Swagger UI sandbox.

mod auth;
mod documents;
pub mod error;
pub mod exports;
mod extract;
mod jobs;
mod limiter;
mod organizations;
mod records;
mod relationships;
mod roles;
mod user_changes;
mod users;

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use serde::Serialize;
use utoipa::OpenApi;
use utoipa::ToSchema;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{self, RefOr};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::{Config, SwaggerUi};

pub use auth::ApiActor;
use error::{ApiError, ErrorDocument};

use crate::app::AppState;

/// The JSON:API media type; requests may also use `application/json`.
pub const MEDIA_TYPE: &str = "application/vnd.api+json";

/// A JSON:API response with its media type.
pub fn document<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE))],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize an API response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SelfLink {
    #[serde(rename = "self")]
    pub self_: String,
}

/// Links to pages of a list, with the same filters and sort.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub first: String,
    /// Absent when the total is not counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The links of page `page`; `total` when counted, else `has_more` says whether a next page exists.
pub fn page_links(
    base: &str,
    kept: &[(String, String)],
    page: i64,
    size: i64,
    total: Option<i64>,
    has_more: bool,
) -> PageLinks {
    let link = |n: i64| {
        let mut pairs: Vec<(String, String)> = kept.to_vec();
        pairs.push(("page[number]".to_owned(), n.to_string()));
        pairs.push(("page[size]".to_owned(), size.to_string()));
        format!("{base}?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default())
    };
    let last = total.map(|t| ((t + size - 1) / size).max(1));
    let next = match last {
        Some(l) => page < l,
        None => has_more,
    };
    PageLinks {
        self_: link(page),
        first: link(1),
        last: last.map(link),
        prev: (page > 1).then(|| link(page - 1)),
        next: next.then(|| link(page + 1)),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "muster API",
        description = "Users, their actions, organizations and records, as JSON:API documents \
            (`application/vnd.api+json`; `application/json` is accepted in requests). \
            Authenticate with `Authorization: Bearer <API key>`: generate a key with **Generate Key** \
            on your profile, then paste it under **Authorize**. A key acts within its organization."
    ),
    servers((url = "/api")),
    components(schemas(ErrorDocument)),
    security(("apiKey" = []))
)]
struct ApiDoc;

/// The error statuses every operation may answer, and what they mean.
const ERROR_RESPONSES: &[(&str, &str)] = &[
    (
        "400",
        "Malformed request: bad JSON, a wrong type, an unknown filter, sort field or parameter",
    ),
    (
        "401",
        "No API key, or a key that is not valid or whose user cannot sign in",
    ),
    ("403", "The key's user may not do this"),
    ("404", "Not found, or outside the key's organization"),
    (
        "409",
        "Not possible in the current state (e.g. records assigned, already taken)",
    ),
    (
        "406",
        "Accept names application/vnd.api+json only with parameters other than profile (JSON:API 1.1)",
    ),
    (
        "415",
        "The request body is not application/vnd.api+json (no parameters but profile) or application/json",
    ),
    ("422", "Invalid attribute values; each error points at its attribute"),
    (
        "429",
        "Too many failed API key attempts from this address; see Retry-After",
    ),
];

fn error_response(description: &str, status: &str) -> openapi::Response {
    let content = openapi::ContentBuilder::new()
        .schema(Some(openapi::Ref::from_schema_name("ErrorDocument")))
        .build();
    let mut b = openapi::ResponseBuilder::new()
        .description(description)
        .content(MEDIA_TYPE, content);
    if status == "429" {
        b = b.header(
            "Retry-After",
            openapi::HeaderBuilder::new()
                .schema(Some(openapi::ObjectBuilder::new().schema_type(openapi::Type::Integer)))
                .description(Some("Seconds to wait"))
                .build(),
        );
    }
    b.build()
}

/// Add the bearer scheme and the shared error responses to every operation.
fn finish(mut doc: openapi::OpenApi) -> openapi::OpenApi {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "apiKey",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("muster API key (mk_…)")
                .build(),
        ),
    );
    for item in doc.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for op in ops.into_iter().flatten() {
            for (status, description) in ERROR_RESPONSES {
                op.responses
                    .responses
                    .entry((*status).to_owned())
                    .or_insert_with(|| RefOr::T(error_response(description, status)));
            }
        }
    }
    doc
}

/// The API's routes with their OpenAPI document.
pub fn openapi_router() -> (Router<AppState>, openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(users::router())
        .merge(organizations::router())
        .merge(records::router())
        .merge(user_changes::router())
        .merge(relationships::router())
        .merge(roles::router())
        .merge(jobs::router())
        .split_for_parts();
    (router, finish(doc))
}

pub fn router() -> Router<AppState> {
    let (api, doc) = openapi_router();
    let api = api
        .fallback(|| async { ApiError::route_not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(Extension(Arc::new(limiter::Limiter::default())))
        .layer(axum::middleware::from_fn(extract::check_accept));
    let docs: Router<AppState> = SwaggerUi::new("/api/docs")
        .url("/api/openapi.json", doc)
        .config(
            Config::default()
                .persist_authorization(true)
                .try_it_out_enabled(true)
                // no badge that sends the spec's URL to validator.swagger.io (the CSP would block it anyway)
                .validator_url("none"),
        )
        .into();
    // Swagger UI has one inline <style>: its own policy allows it by hash (see `security_headers`)
    let docs = docs.layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::security_headers::SWAGGER_CSP),
    ));
    Router::new().nest("/api", api).merge(docs)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    /// Swagger UI keys operations by operationId: two operations with one id
    /// make "Try it out" of one run the other's request.
    #[test]
    fn every_operation_has_its_own_descriptive_operation_id_and_a_tag() {
        let (_, doc) = super::openapi_router();
        let json = serde_json::to_value(&doc).unwrap();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for (path, item) in json["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    continue;
                }
                let where_ = format!("{} {path}", method.to_uppercase());
                let id = op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{where_}: no operationId"));
                assert!(
                    id.len() > 4
                        && id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                        && id.chars().all(|c| c.is_ascii_alphanumeric()),
                    "{where_}: operationId {id:?} is not a descriptive camelCase name"
                );
                if let Some(other) = seen.insert(id.to_owned(), where_.clone()) {
                    panic!("operationId {id:?} is used by {other} and {where_}");
                }
                let tags = op["tags"].as_array().unwrap_or_else(|| panic!("{where_}: no tag"));
                assert_eq!(tags.len(), 1, "{where_}: one tag per operation");
            }
        }
        for id in [
            "listUsers",
            "getUser",
            "createUser",
            "updateUser",
            "deleteUser",
            "enableUser",
            "listOrganizations",
            "listRecords",
        ] {
            assert!(seen.contains_key(id), "{id} is missing");
        }
    }
}

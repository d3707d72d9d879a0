//! `/api/roles`: the three roles, as the resources that users' `roles`
//! relationships point at (`type` `roles`, `id` `administrator`,
//! `user_manager`, `user`). Read-only: roles are fixed (DESIGN §3).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use muster_domain::Role;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::ApiActor;
use super::document;
use super::documents::{RoleId, RoleResource};
use super::error::ApiError;
use crate::app::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(get_one))
}

#[derive(Serialize, ToSchema)]
struct RoleListDocument {
    data: Vec<RoleResource>,
}

#[derive(Serialize, ToSchema)]
struct RoleDocument {
    data: RoleResource,
}

/// The roles a user may hold.
#[utoipa::path(
    get,
    operation_id = "listRoles",
    path = "/roles",
    tag = "roles",
    responses((status = 200, description = "The roles", body = RoleListDocument, content_type = "application/vnd.api+json"))
)]
async fn list(_who: ApiActor) -> Response {
    document(
        StatusCode::OK,
        &RoleListDocument {
            data: Role::ALL.into_iter().map(RoleResource::of).collect(),
        },
    )
}

/// One role.
#[utoipa::path(
    get,
    operation_id = "getRole",
    path = "/roles/{id}",
    tag = "roles",
    params(("id" = RoleId, Path, description = "The role's id", example = "user_manager")),
    responses((status = 200, description = "The role", body = RoleDocument, content_type = "application/vnd.api+json"))
)]
async fn get_one(_who: ApiActor, Path(id): Path<String>) -> Result<Response, ApiError> {
    let role = serde_json::from_value::<RoleId>(serde_json::Value::String(id))
        .map(RoleId::role)
        .map_err(|_| ApiError::from(muster_domain::Error::NotFound("role".into())))?;
    Ok(document(
        StatusCode::OK,
        &RoleDocument {
            data: RoleResource::of(role),
        },
    ))
}

//! A user's relationships as JSON:API relationship endpoints:
//! `/api/users/{id}/relationships/roles` and `…/organizations`, read (GET)
//! and replaced whole (PATCH), through the same service as `PATCH /users/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use muster_domain::permission::perm;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::ApiActor;
use super::document;
use super::documents::{
    Members, OrgIndex, OrganizationIdentifier, OrganizationsRelationship, RoleIdentifier, RolesRelationship,
    organization_names, organizations_relationship, role_names, roles_relationship,
};
use super::error::ApiError;
use super::extract::{IdPath, JsonBody};
use super::user_changes::apply_changes;
use crate::app::AppState;
use crate::services;
use crate::services::users::UserChanges;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_roles, replace_roles))
        .routes(routes!(get_organizations, replace_organizations))
}

/// The new roles of a user, replacing all they had.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RolesLinkageDocument {
    #[serde(deserialize_with = "super::extract::object::list")]
    data: Vec<RoleIdentifier>,
    #[serde(default)]
    meta: Option<Members>,
    #[serde(default)]
    jsonapi: Option<Members>,
    #[serde(default)]
    links: Option<Members>,
}

/// The new organizations of a user in the key's organizations (memberships elsewhere are kept).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OrganizationsLinkageDocument {
    #[serde(deserialize_with = "super::extract::object::list")]
    data: Vec<OrganizationIdentifier>,
    #[serde(default)]
    meta: Option<Members>,
    #[serde(default)]
    jsonapi: Option<Members>,
    #[serde(default)]
    links: Option<Members>,
}

/// A user's roles, as resource identifiers (`type` `roles`, `id` `administrator`, `user_manager` or `user`).
#[utoipa::path(
    get,
    operation_id = "getUserRolesRelationship",
    path = "/users/{id}/relationships/roles",
    tag = "users",
    params(("id" = i64, Path, description = "The user's id", example = 2)),
    responses((status = 200, description = "The user's roles", body = RolesRelationship, content_type = "application/vnd.api+json"))
)]
async fn get_roles(State(state): State<AppState>, who: ApiActor, IdPath(id): IdPath) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::ViewUsers>()?;
    let user = services::users::get(&state.store, &grant, id).await?;
    Ok(document(StatusCode::OK, &roles_relationship(&user)))
}

/// Replace a user's roles (administrators only), as `roles` in `PATCH /users/{id}` does.
#[utoipa::path(
    patch,
    operation_id = "replaceUserRoles",
    path = "/users/{id}/relationships/roles",
    tag = "users",
    params(("id" = i64, Path, description = "The user's id", example = 2)),
    request_body(content = RolesLinkageDocument, content_type = "application/vnd.api+json",
        example = json!({"data": [{"type": "roles", "id": "user"}]})
    ),
    responses((status = 200, description = "The user's roles now", body = RolesRelationship, content_type = "application/vnd.api+json"))
)]
async fn replace_roles(
    State(state): State<AppState>,
    who: ApiActor,
    IdPath(id): IdPath,
    JsonBody(doc): JsonBody<RolesLinkageDocument>,
) -> Result<Response, ApiError> {
    who.actor.allow::<perm::EditUsers>()?;
    let _ = (doc.meta, doc.jsonapi, doc.links);
    let changes = UserChanges {
        roles: Some(role_names(&doc.data)),
        ..Default::default()
    };
    let user = apply_changes(&state, &who, id, changes)
        .await
        .map_err(at_data("roles"))?;
    Ok(document(StatusCode::OK, &roles_relationship(&user)))
}

/// A user's organizations, as resource identifiers (`type` `organizations`, `id` the organization's id).
#[utoipa::path(
    get,
    operation_id = "getUserOrganizationsRelationship",
    path = "/users/{id}/relationships/organizations",
    tag = "users",
    params(("id" = i64, Path, description = "The user's id", example = 2)),
    responses((status = 200, description = "The user's organizations", body = OrganizationsRelationship, content_type = "application/vnd.api+json"))
)]
async fn get_organizations(
    State(state): State<AppState>,
    who: ApiActor,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::ViewUsers>()?;
    let user = services::users::get(&state.store, &grant, id).await?;
    let orgs = OrgIndex::load(&state).await?;
    Ok(document(StatusCode::OK, &organizations_relationship(&user, &orgs)))
}

/// Replace a user's organizations within the key's organizations (administrators only), as
/// `organizations` in `PATCH /users/{id}` does. An unknown organization is a 404.
#[utoipa::path(
    patch,
    operation_id = "replaceUserOrganizations",
    path = "/users/{id}/relationships/organizations",
    tag = "users",
    params(("id" = i64, Path, description = "The user's id", example = 2)),
    request_body(content = OrganizationsLinkageDocument, content_type = "application/vnd.api+json",
        example = json!({"data": [{"type": "organizations", "id": "1"}]})
    ),
    responses((status = 200, description = "The user's organizations now", body = OrganizationsRelationship, content_type = "application/vnd.api+json"))
)]
async fn replace_organizations(
    State(state): State<AppState>,
    who: ApiActor,
    IdPath(id): IdPath,
    JsonBody(doc): JsonBody<OrganizationsLinkageDocument>,
) -> Result<Response, ApiError> {
    who.actor.allow::<perm::EditUsers>()?;
    let _ = (doc.meta, doc.jsonapi, doc.links);
    let orgs = OrgIndex::load(&state).await?;
    let names = organization_names(&doc.data, &orgs, "/data")?;
    let changes = UserChanges {
        organizations: Some(names),
        ..Default::default()
    };
    let user = apply_changes(&state, &who, id, changes)
        .await
        .map_err(at_data("organizations"))?;
    Ok(document(StatusCode::OK, &organizations_relationship(&user, &orgs)))
}

/// The service names the attribute (`/data/attributes/roles`); here the culprit is the linkage, `/data`.
fn at_data(name: &'static str) -> impl Fn(ApiError) -> ApiError {
    move |mut e| {
        let attribute = format!("/data/attributes/{name}");
        for err in &mut e.errors {
            if err.source.pointer == attribute {
                err.source.pointer = "/data".to_owned();
            }
        }
        e
    }
}

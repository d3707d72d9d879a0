//! `/api/organizations`: the organizations the key's user belongs to; create one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use muster_domain::permission::perm;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::ApiActor;
use super::document;
use super::documents::{Members, OrganizationResource, OrganizationsType, refuse_client_id, refuse_relationships};
use super::error::ApiError;
use super::extract::{IdPath, JsonBody};
use crate::app::AppState;
use crate::services;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct OrganizationListMeta {
    total_count: i64,
}

#[derive(Serialize, ToSchema)]
struct OrganizationListDocument {
    data: Vec<OrganizationResource>,
    meta: OrganizationListMeta,
}

#[derive(Serialize, ToSchema)]
struct OrganizationDocument {
    data: OrganizationResource,
}

/// The organizations the key's user belongs to.
#[utoipa::path(
    get,
    operation_id = "listOrganizations",
    path = "/organizations",
    tag = "organizations",
    responses((status = 200, description = "The organizations", body = OrganizationListDocument, content_type = "application/vnd.api+json"))
)]
async fn list(State(state): State<AppState>, who: ApiActor) -> Result<Response, ApiError> {
    let orgs = services::organizations::list_mine(&state.store, &who.actor).await?;
    Ok(document(
        StatusCode::OK,
        &OrganizationListDocument {
            meta: OrganizationListMeta {
                total_count: i64::try_from(orgs.len()).unwrap_or(i64::MAX),
            },
            data: orgs.iter().map(OrganizationResource::from).collect(),
        },
    ))
}

/// One organization the key's user belongs to (others are not found), as a user's
/// `organizations` relationship points at it.
#[utoipa::path(
    get,
    operation_id = "getOrganization",
    path = "/organizations/{id}",
    tag = "organizations",
    params(("id" = i64, Path, description = "The organization's id", example = 1)),
    responses((status = 200, description = "The organization", body = OrganizationDocument, content_type = "application/vnd.api+json"))
)]
async fn get_one(State(state): State<AppState>, who: ApiActor, IdPath(id): IdPath) -> Result<Response, ApiError> {
    let orgs = services::organizations::list_mine(&state.store, &who.actor).await?;
    let org = orgs
        .iter()
        .find(|o| o.id == id)
        .ok_or_else(|| ApiError::from(muster_domain::Error::NotFound("organization".into())))?;
    Ok(document(StatusCode::OK, &OrganizationDocument { data: org.into() }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewOrganizationAttributes {
    name: String,
}

/// A new organization; `links`, `meta` and an empty `relationships` are allowed and ignored.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewOrganizationData {
    #[serde(rename = "type")]
    kind: OrganizationsType,
    /// Client-generated ids are not supported (403).
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    lid: Option<String>,
    #[serde(deserialize_with = "super::extract::object::required")]
    attributes: NewOrganizationAttributes,
    /// An organization has no relationships to set.
    #[serde(default)]
    relationships: Option<Members>,
    #[serde(default)]
    links: Option<Members>,
    #[serde(default)]
    meta: Option<Members>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewOrganizationDocument {
    #[serde(deserialize_with = "super::extract::object::required")]
    data: NewOrganizationData,
    #[serde(default)]
    meta: Option<Members>,
    #[serde(default)]
    jsonapi: Option<Members>,
    #[serde(default)]
    links: Option<Members>,
}

/// Create an organization (administrators); its creator becomes a member.
#[utoipa::path(
    post,
    operation_id = "createOrganization",
    path = "/organizations",
    tag = "organizations",
    request_body(content = NewOrganizationDocument, content_type = "application/vnd.api+json",
        example = json!({"data": {"type": "organizations", "attributes": {"name": "Sales"}}})
    ),
    responses((status = 201, description = "The new organization", body = OrganizationDocument, content_type = "application/vnd.api+json"))
)]
async fn create(
    State(state): State<AppState>,
    who: ApiActor,
    JsonBody(doc): JsonBody<NewOrganizationDocument>,
) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::ManageOrganizations>()?;
    let _ = (
        doc.data.kind,
        doc.data.lid,
        doc.data.links,
        doc.data.meta,
        doc.meta,
        doc.jsonapi,
        doc.links,
    );
    refuse_client_id(doc.data.id.as_deref())?;
    refuse_relationships(doc.data.relationships.as_ref())?;
    let org = services::organizations::create(&state.store, &grant, &who.ctx, &doc.data.attributes.name).await?;
    Ok(document(
        StatusCode::CREATED,
        &OrganizationDocument { data: (&org).into() },
    ))
}

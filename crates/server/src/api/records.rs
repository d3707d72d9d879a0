//! `/api/records`: records of the business application and their owners,
//! within the key's organization.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use muster_domain::Error as DomainError;
use muster_domain::permission::perm;
use muster_store::records::Record;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::ApiActor;
use super::documents::{Members, refuse_client_id, refuse_relationships};
use super::error::ApiError;
use super::extract::{IdPath, JsonBody, RawQuery, int_param};
use super::{PageLinks, SelfLink, document, page_links};
use crate::app::AppState;
use crate::clock;
use crate::services::{self, records::RecordInput, records::RecordPatch};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update))
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
enum RecordsType {
    #[serde(rename = "records")]
    Records,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RecordAttributes {
    kind: String,
    title: String,
    /// The owner's user id.
    owner_id: String,
    organization_id: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

#[derive(Serialize, ToSchema)]
struct RecordResource {
    #[serde(rename = "type")]
    kind: RecordsType,
    id: String,
    attributes: RecordAttributes,
    links: SelfLink,
}

impl From<&Record> for RecordResource {
    fn from(r: &Record) -> Self {
        RecordResource {
            kind: RecordsType::Records,
            id: r.id.to_string(),
            attributes: RecordAttributes {
                kind: r.kind.clone(),
                title: r.title.clone(),
                owner_id: r.owner_id.to_string(),
                organization_id: r.organization_id.to_string(),
                created_at: clock::rfc3339(r.created_at),
                updated_at: clock::rfc3339(r.updated_at),
            },
            links: SelfLink {
                self_: format!("/api/records/{}", r.id),
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
struct RecordDocument {
    data: RecordResource,
}

#[derive(Serialize, ToSchema)]
struct RecordListDocument {
    data: Vec<RecordResource>,
    links: PageLinks,
}

/// A user id: a number, or a string of digits as JSON:API ids are.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
enum IdValue {
    Number(i64),
    Text(String),
}

impl IdValue {
    fn get(&self) -> Result<i64, ApiError> {
        match self {
            IdValue::Number(n) => Ok(*n),
            IdValue::Text(s) => s
                .parse()
                .map_err(|_| DomainError::invalid("owner_id", format!("must be a user id (got {s:?})")).into()),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // parsed strictly by `list`; this is its documentation
struct ListParams {
    /// Only the records of this user.
    #[param(rename = "filter[ownerId]", minimum = 1)]
    owner_id: Option<i64>,
    #[param(rename = "page[number]", minimum = 1, maximum = 1_000_000_000)]
    page_number: Option<i64>,
    #[param(rename = "page[size]", minimum = 1, maximum = 1000)]
    page_size: Option<i64>,
}

/// Records in the key's organization, newest first.
#[utoipa::path(
    get,
    operation_id = "listRecords",
    path = "/records",
    tag = "records",
    params(ListParams),
    responses((status = 200, description = "A page of records", body = RecordListDocument, content_type = "application/vnd.api+json"))
)]
async fn list(State(state): State<AppState>, who: ApiActor, RawQuery(pairs): RawQuery) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::ManageRecords>()?;
    let (mut owner, mut page, mut size) = (None, 1, super::users::DEFAULT_PAGE_SIZE);
    let mut kept = Vec::new();
    for (name, value) in &pairs {
        match name.as_str() {
            "filter[ownerId]" => {
                owner = Some(int_param(name, value, 1, i64::MAX)?);
                kept.push((name.clone(), value.clone()));
            }
            "page[number]" => page = int_param(name, value, 1, 1_000_000_000)?,
            "page[size]" => size = int_param(name, value, 1, super::users::MAX_PAGE_SIZE)?,
            other if other.starts_with("filter[") => {
                return Err(ApiError::parameter(
                    format!("unknown filter {other:?}: expected filter[ownerId]"),
                    other,
                ));
            }
            other => return Err(ApiError::parameter(format!("unknown query parameter {other:?}"), other)),
        }
    }
    let result = services::records::list(&state.store, &grant, owner, page, size).await?;
    Ok(document(
        StatusCode::OK,
        &RecordListDocument {
            data: result.records.iter().map(RecordResource::from).collect(),
            links: page_links("/api/records", &kept, page, size, None, result.has_more),
        },
    ))
}

/// One record.
#[utoipa::path(
    get,
    operation_id = "getRecord",
    path = "/records/{id}",
    tag = "records",
    params(("id" = i64, Path, description = "The record's id", example = 1)),
    responses((status = 200, description = "The record", body = RecordDocument, content_type = "application/vnd.api+json"))
)]
async fn get_one(State(state): State<AppState>, who: ApiActor, IdPath(id): IdPath) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::ManageRecords>()?;
    let r = services::records::get(&state.store, &grant, id).await?;
    Ok(document(StatusCode::OK, &RecordDocument { data: (&r).into() }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewRecordAttributes {
    /// A short lowercase word: `contact`, `task`…
    kind: String,
    title: String,
    owner_id: IdValue,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewRecordData {
    #[serde(rename = "type")]
    kind: RecordsType,
    /// Client-generated ids are not supported (403).
    #[serde(default)]
    id: Option<String>,
    #[serde(deserialize_with = "super::extract::object::required")]
    attributes: NewRecordAttributes,
    #[serde(default)]
    lid: Option<String>,
    /// A record has no relationships to set (its owner is the `ownerId` attribute).
    #[serde(default)]
    relationships: Option<Members>,
    #[serde(default)]
    links: Option<Members>,
    #[serde(default)]
    meta: Option<Members>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewRecordDocument {
    #[serde(deserialize_with = "super::extract::object::required")]
    data: NewRecordData,
    #[serde(default)]
    meta: Option<Members>,
    #[serde(default)]
    jsonapi: Option<Members>,
    #[serde(default)]
    links: Option<Members>,
}

/// Create a record owned by a user of the key's organization.
#[utoipa::path(
    post,
    operation_id = "createRecord",
    path = "/records",
    tag = "records",
    request_body(content = NewRecordDocument, content_type = "application/vnd.api+json",
        example = json!({"data": {"type": "records", "attributes": {"kind": "contact", "title": "First call", "ownerId": "1"}}})
    ),
    responses((status = 201, description = "The new record", body = RecordDocument, content_type = "application/vnd.api+json"))
)]
async fn create(
    State(state): State<AppState>,
    who: ApiActor,
    JsonBody(doc): JsonBody<NewRecordDocument>,
) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::ManageRecords>()?;
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
    let a = doc.data.attributes;
    let input = RecordInput {
        kind: a.kind,
        title: a.title,
        owner_id: a.owner_id.get()?,
    };
    let r = services::records::create(&state.store, &grant, &who.ctx, &input).await?;
    Ok(document(StatusCode::CREATED, &RecordDocument { data: (&r).into() }))
}

#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RecordPatchAttributes {
    kind: Option<String>,
    title: Option<String>,
    /// A new owner, who must belong to the record's organization.
    owner_id: Option<IdValue>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RecordPatchData {
    #[serde(rename = "type")]
    kind: RecordsType,
    /// If given, it must be the id in the path.
    #[schema(example = "1")]
    id: Option<String>,
    #[serde(default, deserialize_with = "super::extract::object::optional")]
    attributes: Option<RecordPatchAttributes>,
    #[serde(default)]
    lid: Option<String>,
    /// A record has no relationships to set (its owner is the `ownerId` attribute).
    #[serde(default)]
    relationships: Option<Members>,
    #[serde(default)]
    links: Option<Members>,
    #[serde(default)]
    meta: Option<Members>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RecordPatchDocument {
    #[serde(deserialize_with = "super::extract::object::required")]
    data: RecordPatchData,
    #[serde(default)]
    meta: Option<Members>,
    #[serde(default)]
    jsonapi: Option<Members>,
    #[serde(default)]
    links: Option<Members>,
}

/// Change a record's kind, title or owner.
#[utoipa::path(
    patch,
    operation_id = "updateRecord",
    path = "/records/{id}",
    tag = "records",
    params(("id" = i64, Path, description = "The record's id", example = 1)),
    request_body(content = RecordPatchDocument, content_type = "application/vnd.api+json",
        example = json!({"data": {"type": "records", "id": "1", "attributes": {"title": "Call back"}}})
    ),
    responses((status = 200, description = "The record", body = RecordDocument, content_type = "application/vnd.api+json"))
)]
async fn update(
    State(state): State<AppState>,
    who: ApiActor,
    IdPath(id): IdPath,
    JsonBody(doc): JsonBody<RecordPatchDocument>,
) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::ManageRecords>()?;
    let _ = (
        doc.data.kind,
        doc.data.lid,
        doc.data.links,
        doc.data.meta,
        doc.meta,
        doc.jsonapi,
        doc.links,
    );
    ApiError::check_same_id(doc.data.id.as_deref(), id)?;
    refuse_relationships(doc.data.relationships.as_ref())?;
    let a = doc.data.attributes.unwrap_or_default();
    let patch = RecordPatch {
        kind: a.kind,
        title: a.title,
        owner_id: a.owner_id.as_ref().map(IdValue::get).transpose()?,
    };
    let r = services::records::update(&state.store, &grant, &who.ctx, id, &patch).await?;
    Ok(document(StatusCode::OK, &RecordDocument { data: (&r).into() }))
}

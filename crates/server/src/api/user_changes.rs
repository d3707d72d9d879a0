//! The user endpoints over the services of the users page, passwords and
//! exports: `PATCH|DELETE /api/users/{id}`, `reassign-records`, `password`,
//! `reset-password`, the mass actions and the exports.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use muster_domain::permission::perm;
use muster_domain::{Error as DomainError, UserFilter};
use muster_store::users::User;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::ApiActor;
use super::document;
use super::documents::{Members, OrgIndex, UserRelationshipsInput, check_read_only, organization_names, role_names};
use super::error::ApiError;
use super::extract::{IdPath, JsonBody, RawQuery};
use super::users::{RoleName, UserDocument, UsersType, attributes_value, one_of, parse_list_query, user_response};
use crate::app::AppState;
use crate::error::AppError;
use crate::services;
use crate::services::users::UserChanges;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(update, delete))
        .routes(routes!(reassign_records))
        .routes(routes!(set_password))
        .routes(routes!(reset_password))
        .routes(routes!(mass_enable))
        .routes(routes!(mass_disable))
        .routes(routes!(mass_reset_password))
        .routes(routes!(export_users))
        .routes(routes!(export_show))
        .routes(routes!(export_download))
}

/// Errors of a top-level body (`{"password": …}`): point at `/password`, not at an attribute.
fn top_level(e: AppError) -> ApiError {
    match e {
        AppError::Domain(DomainError::Invalid(fields)) => DomainError::Invalid(
            fields
                .into_iter()
                .map(|mut f| {
                    if !f.field.is_empty() && !f.field.starts_with('/') {
                        f.field = format!("/{}", f.field);
                    }
                    f
                })
                .collect(),
        )
        .into(),
        other => other.into(),
    }
}

/// Attributes left out keep their value.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UserPatchAttributes {
    username: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    /// Needs the right to enable and disable users; nobody disables themself.
    enabled: Option<bool>,
    /// Administrators only. Or the `roles` relationship.
    roles: Option<Vec<RoleName>>,
    /// Organization names, administrators only: memberships outside the key's organization are kept.
    /// Or the `organizations` relationship.
    organizations: Option<Vec<String>>,
    /// Read-only: sent back unchanged it is ignored; another value is a 422.
    #[serde(default)]
    #[schema(value_type = Option<super::users::ApiAuthStatus>, read_only)]
    auth_status: Option<Value>,
    /// Read-only.
    #[serde(default)]
    #[schema(value_type = Option<i64>, read_only)]
    failed_login_count: Option<Value>,
    /// Read-only.
    #[serde(default)]
    #[schema(value_type = Option<i64>, read_only)]
    login_count: Option<Value>,
    /// Read-only.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime, read_only)]
    last_login_at: Option<Value>,
    /// Read-only.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime, read_only)]
    created_at: Option<Value>,
    /// Read-only.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime, read_only)]
    updated_at: Option<Value>,
}

impl UserPatchAttributes {
    fn read_only(&self) -> [(&'static str, &Option<Value>); 6] {
        [
            ("authStatus", &self.auth_status),
            ("failedLoginCount", &self.failed_login_count),
            ("loginCount", &self.login_count),
            ("lastLoginAt", &self.last_login_at),
            ("createdAt", &self.created_at),
            ("updatedAt", &self.updated_at),
        ]
    }
}

/// A user's changes; `links`, `meta` and `lid` are allowed (JSON:API 1.1) and ignored.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UserPatchData {
    #[serde(rename = "type")]
    kind: UsersType,
    /// If given, it must be the id in the path.
    #[schema(example = "2")]
    id: Option<String>,
    #[serde(default)]
    lid: Option<String>,
    #[serde(default, deserialize_with = "super::extract::object::optional")]
    attributes: Option<UserPatchAttributes>,
    /// `roles` and `organizations`, replaced whole; `{}` changes nothing.
    #[serde(default, deserialize_with = "super::extract::object::optional")]
    relationships: Option<UserRelationshipsInput>,
    #[serde(default)]
    links: Option<Members>,
    #[serde(default)]
    meta: Option<Members>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UserPatchDocument {
    #[serde(deserialize_with = "super::extract::object::required")]
    data: UserPatchData,
    #[serde(default)]
    meta: Option<Members>,
    #[serde(default)]
    jsonapi: Option<Members>,
    #[serde(default)]
    links: Option<Members>,
}

/// Change user `id` through the one service that edits users; it merges what is left out.
pub(super) async fn apply_changes(
    state: &AppState,
    who: &ApiActor,
    id: i64,
    changes: UserChanges,
) -> Result<User, ApiError> {
    let grant = who.actor.allow::<perm::EditUsers>()?;
    Ok(services::users::update(&state.store, &grant, &who.ctx, id, &changes).await?)
}

/// Change a user; attributes left out keep their value. The password is changed with `POST /users/{id}/password`.
/// `roles` and `organizations` may be given as attributes (names) or relationships (identifiers).
/// Read-only attributes sent back unchanged are ignored; `relationships`, `links` and `meta` are allowed.
#[utoipa::path(
    patch,
    operation_id = "updateUser",
    path = "/users/{id}",
    tag = "users",
    params(("id" = i64, Path, description = "The user's id", example = 2)),
    request_body(content = UserPatchDocument, content_type = "application/vnd.api+json",
        example = json!({"data": {"type": "users", "id": "2", "attributes": {"firstName": "Jane"}}})
    ),
    responses((status = 200, description = "The user", body = UserDocument, content_type = "application/vnd.api+json"))
)]
async fn update(
    State(state): State<AppState>,
    who: ApiActor,
    IdPath(id): IdPath,
    JsonBody(doc): JsonBody<UserPatchDocument>,
) -> Result<Response, ApiError> {
    who.actor.allow::<perm::EditUsers>()?;
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
    let view = who.actor.allow::<perm::ViewUsers>()?;
    let current = services::users::get(&state.store, &view, id).await?;
    let orgs = OrgIndex::load(&state).await?;
    let a = doc.data.attributes.unwrap_or_default();
    check_read_only(&a.read_only(), attributes_value(&current, &orgs).as_ref())?;
    let rels = doc.data.relationships.unwrap_or_default();
    let rel_orgs = rels
        .organizations
        .map(|l| organization_names(&l.data, &orgs, "/data/relationships/organizations/data"))
        .transpose()?;
    let rel_roles = rels.roles.map(|l| role_names(&l.data));
    let attr_roles = a
        .roles
        .map(|r| r.into_iter().map(|r| r.name().to_owned()).collect::<Vec<_>>());
    let changes = UserChanges {
        username: a.username,
        email: a.email,
        first_name: a.first_name,
        last_name: a.last_name,
        enabled: a.enabled,
        roles: one_of(attr_roles, rel_roles, "roles")?,
        organizations: one_of(a.organizations, rel_orgs, "organizations")?,
        ..Default::default()
    };
    let user = apply_changes(&state, &who, id, changes).await?;
    user_response(&state, StatusCode::OK, &user).await
}

/// Delete a user: 409 while records are assigned (the counts in `detail`), 403 for oneself.
#[utoipa::path(
    delete,
    operation_id = "deleteUser",
    path = "/users/{id}",
    tag = "users",
    params(("id" = i64, Path, description = "The user's id", example = 4)),
    responses((status = 204, description = "Deleted"))
)]
async fn delete(State(state): State<AppState>, who: ApiActor, IdPath(id): IdPath) -> Result<StatusCode, ApiError> {
    let grant = who.actor.allow::<perm::DeleteUsers>()?;
    services::users::delete(&state.store, &grant, &who.ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user id: a number, or a string of digits as JSON:API ids are.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
enum IdValue {
    Number(i64),
    Text(String),
}

impl IdValue {
    fn get(&self, pointer: &str) -> Result<i64, ApiError> {
        match self {
            IdValue::Number(n) => Ok(*n),
            IdValue::Text(s) => s
                .parse()
                .map_err(|_| DomainError::invalid(pointer, format!("must be a user id (got {s:?})")).into()),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReassignBody {
    to_user_id: IdValue,
}

#[derive(Serialize, ToSchema)]
struct MovedMeta {
    moved: u64,
}

#[derive(Serialize, ToSchema)]
struct MovedDocument {
    meta: MovedMeta,
}

/// Move every record of the user to another user of the key's organization.
#[utoipa::path(
    post,
    operation_id = "reassignUserRecords",
    path = "/users/{id}/reassign-records",
    tag = "user actions",
    params(("id" = i64, Path, description = "The user's id", example = 1)),
    request_body(content = ReassignBody, content_type = "application/vnd.api+json",
        example = json!({"toUserId": "2"})
    ),
    responses((status = 200, description = "How many records moved", body = MovedDocument, content_type = "application/vnd.api+json"))
)]
async fn reassign_records(
    State(state): State<AppState>,
    who: ApiActor,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<ReassignBody>,
) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::ManageRecords>()?;
    let to = body.to_user_id.get("/toUserId")?;
    let moved = services::users::reassign_records(&state.store, &grant, &who.ctx, id, to)
        .await
        .map_err(top_level)?;
    Ok(document(
        StatusCode::OK,
        &MovedDocument {
            meta: MovedMeta { moved },
        },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    /// The new password; it must meet the password policy.
    #[schema(write_only)]
    password: String,
}

/// Set another user's password: their sessions end and they are told by mail.
#[utoipa::path(
    post,
    operation_id = "setUserPassword",
    path = "/users/{id}/password",
    tag = "user actions",
    params(("id" = i64, Path, description = "The user's id", example = 3)),
    request_body(content = PasswordBody, content_type = "application/vnd.api+json",
        example = json!({"password": "Quartz-Meadow-Lantern-61"})
    ),
    responses((status = 200, description = "The user", body = UserDocument, content_type = "application/vnd.api+json"))
)]
async fn set_password(
    State(state): State<AppState>,
    who: ApiActor,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::SetPasswords>()?;
    let user = services::passwords::set_password(state.deps(), &grant, &who.ctx, id, &body.password)
        .await
        .map_err(top_level)?;
    user_response(&state, StatusCode::OK, &user).await
}

/// Reset the user's password: status `password_reset`, sessions end, a mail with a single-use link.
#[utoipa::path(
    post,
    operation_id = "resetUserPassword",
    path = "/users/{id}/reset-password",
    tag = "user actions",
    params(("id" = i64, Path, description = "The user's id", example = 3)),
    responses((status = 200, description = "The user", body = UserDocument, content_type = "application/vnd.api+json"))
)]
async fn reset_password(
    State(state): State<AppState>,
    who: ApiActor,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::ResetPasswords>()?;
    let user = services::passwords::reset_password(state.deps(), &grant, &who.ctx, id).await?;
    user_response(&state, StatusCode::OK, &user).await
}

/// The filter of a mass action: the keys of `GET /users`' `filter[…]`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MassFilter {
    #[schema(inline)]
    view: Option<MassView>,
    enabled: Option<bool>,
    /// Comma-separated statuses.
    auth_status: Option<String>,
    username: Option<String>,
    email: Option<String>,
    search: Option<String>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum MassView {
    All,
    Active,
    Disabled,
    CannotLogin,
}

/// Exactly one of `ids` and `filter`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MassBody {
    #[schema(max_items = 10000)]
    ids: Option<Vec<i64>>,
    filter: Option<MassFilter>,
}

impl MassBody {
    /// The users, as a filter, and how the audit event describes them.
    fn selection(self) -> Result<(UserFilter, serde_json::Value), ApiError> {
        match (self.ids, self.filter) {
            (Some(ids), None) => {
                let described = serde_json::json!({ "ids": ids });
                let filter = UserFilter {
                    only_ids: Some(ids),
                    ..Default::default()
                };
                Ok((filter, described))
            }
            (None, Some(f)) => {
                let mut pairs = Vec::new();
                let mut push = |k: &str, v: Option<String>| {
                    if let Some(v) = v {
                        pairs.push((format!("filter[{k}]"), v));
                    }
                };
                push(
                    "view",
                    f.view
                        .as_ref()
                        .and_then(|v| serde_json::to_value(v).ok())
                        .and_then(|v| v.as_str().map(str::to_owned)),
                );
                push("enabled", f.enabled.map(|b| b.to_string()));
                push("authStatus", f.auth_status);
                push("username", f.username);
                push("email", f.email);
                push("search", f.search);
                let described = serde_json::json!({ "filter": pairs });
                let q = parse_list_query(&pairs).map_err(|mut e| {
                    // the same rules as the list, but the culprit is in the body
                    for err in &mut e.errors {
                        if let Some(p) = err.source.parameter.take() {
                            let key = p.trim_start_matches("filter[").trim_end_matches(']');
                            err.source.pointer = format!("/filter/{key}");
                        }
                    }
                    e
                })?;
                Ok((q.filter, described))
            }
            _ => Err(ApiError::bad_request(
                "Give either \"ids\" or \"filter\", not both or neither.",
                "",
            )),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct AffectedMeta {
    affected: u64,
    /// Selected users left unchanged because the key's user may not act on them
    /// (an Administrator, for a User Manager).
    refused: u64,
}

#[derive(Serialize, ToSchema)]
struct AffectedDocument {
    meta: AffectedMeta,
}

fn affected(affected: u64, refused: u64) -> Response {
    document(
        StatusCode::OK,
        &AffectedDocument {
            meta: AffectedMeta { affected, refused },
        },
    )
}

async fn mass_enabled(state: &AppState, who: &ApiActor, body: MassBody, enabled: bool) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::EnableDisable>()?;
    let (filter, described) = body.selection()?;
    let done = services::users::mass_set_enabled(&state.store, &grant, &who.ctx, &filter, enabled, described).await?;
    Ok(affected(done.affected, done.refused))
}

/// Enable every selected user of the key's organization.
#[utoipa::path(
    post,
    operation_id = "massEnableUsers",
    path = "/users/mass/enable",
    tag = "mass actions",
    request_body(content = MassBody, content_type = "application/vnd.api+json",
        example = json!({"ids": [2]})
    ),
    responses((status = 200, description = "How many users changed", body = AffectedDocument, content_type = "application/vnd.api+json"))
)]
async fn mass_enable(
    State(state): State<AppState>,
    who: ApiActor,
    JsonBody(body): JsonBody<MassBody>,
) -> Result<Response, ApiError> {
    mass_enabled(&state, &who, body, true).await
}

/// Disable every selected user of the key's organization, except oneself.
#[utoipa::path(
    post,
    operation_id = "massDisableUsers",
    path = "/users/mass/disable",
    tag = "mass actions",
    request_body(content = MassBody, content_type = "application/vnd.api+json",
        example = json!({"ids": [2]})
    ),
    responses((status = 200, description = "How many users changed", body = AffectedDocument, content_type = "application/vnd.api+json"))
)]
async fn mass_disable(
    State(state): State<AppState>,
    who: ApiActor,
    JsonBody(body): JsonBody<MassBody>,
) -> Result<Response, ApiError> {
    mass_enabled(&state, &who, body, false).await
}

#[derive(Serialize, ToSchema)]
struct SelectedMeta {
    /// How many users the selection holds, fixed now: the job goes through these.
    affected: i64,
    /// How many of them the key's user may not reset (an Administrator, for a User Manager): the job
    /// skips them, as the mass enable and disable do.
    refused: i64,
}

#[derive(Serialize, ToSchema)]
struct MassResetDocument {
    data: super::jobs::JobResource,
    meta: SelectedMeta,
}

/// Reset the password of every selected user (one mail each), except oneself, disabled users and those
/// the key's user may not act on, as a background job: follow it at `GET /api/jobs/{id}`.
#[utoipa::path(
    post,
    operation_id = "massResetUserPasswords",
    path = "/users/mass/reset-password",
    tag = "mass actions",
    request_body(content = MassBody, content_type = "application/vnd.api+json",
        example = json!({"filter": {"view": "disabled"}})
    ),
    responses((status = 202, description = "The job, and how many users it will go through",
        body = MassResetDocument, content_type = "application/vnd.api+json",
        headers(("Location" = String, description = "The job: `/api/jobs/{id}`"))))
)]
async fn mass_reset_password(
    State(state): State<AppState>,
    who: ApiActor,
    JsonBody(body): JsonBody<MassBody>,
) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::ResetPasswords>()?;
    let (filter, described) = body.selection()?;
    let asked = services::mass_reset::request(&state.store, &grant, &who.ctx, &filter, described).await?;
    let doc = MassResetDocument {
        data: super::jobs::JobResource::of(&asked.job),
        meta: SelectedMeta {
            affected: asked.affected,
            refused: asked.refused,
        },
    };
    Ok(super::jobs::located(document(StatusCode::ACCEPTED, &doc), asked.job.id))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // documents `api::exports::resource`
enum ExportStatus {
    Queued,
    Running,
    Done,
    Failed,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct ExportAttributes {
    status: ExportStatus,
    expired: bool,
    processed: i64,
    total: i64,
    requested_by: String,
    filtered: bool,
    columns: Vec<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    started_at: Option<String>,
    #[schema(format = DateTime)]
    finished_at: Option<String>,
    error: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct ExportLinks {
    #[serde(rename = "self")]
    self_: String,
    download: String,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct ExportResource {
    /// Always `exports`.
    #[serde(rename = "type")]
    kind: String,
    id: String,
    attributes: ExportAttributes,
    links: ExportLinks,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct ExportDocument {
    data: ExportResource,
}

/// The filters of `GET /users` narrow an export.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ExportParams {
    #[param(rename = "filter[view]", inline)]
    view: Option<MassView>,
    #[param(rename = "filter[enabled]")]
    enabled: Option<bool>,
    #[param(
        rename = "filter[authStatus]",
        pattern = r"^(active|locked|password_reset)(,(active|locked|password_reset))*$"
    )]
    auth_status: Option<String>,
    #[param(rename = "filter[username]", max_length = 254, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    username: Option<String>,
    #[param(rename = "filter[email]", max_length = 254, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    email: Option<String>,
    #[param(rename = "filter[search]", max_length = 254, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    search: Option<String>,
}

/// Export the users (all, or those the filters select) to CSV, in the background.
#[utoipa::path(
    post,
    operation_id = "exportUsers",
    path = "/exports/users",
    tag = "exports",
    params(ExportParams),
    responses((status = 202, description = "The export job", body = ExportDocument, content_type = "application/vnd.api+json"))
)]
async fn export_users(
    State(state): State<AppState>,
    who: ApiActor,
    RawQuery(pairs): RawQuery,
) -> Result<Response, ApiError> {
    who.actor.allow::<perm::ExportUsers>()?;
    // the list's strict rules: an unknown filter is a 400 that names it
    if let Some((name, _)) = pairs.iter().find(|(k, _)| !k.starts_with("filter[")) {
        return Err(ApiError::parameter(format!("unknown query parameter {name:?}"), name));
    }
    parse_list_query(&pairs)?;
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    Ok(crate::api::exports::create(&state, &who.actor, &who.ctx, Some(&query)).await?)
}

/// An export job: `status` queued, running, done or failed; `processed` of `total`.
#[utoipa::path(
    get,
    operation_id = "getExport",
    path = "/exports/{id}",
    tag = "exports",
    params(("id" = i64, Path, description = "The export's id", example = 1)),
    responses((status = 200, description = "The export job", body = ExportDocument, content_type = "application/vnd.api+json"))
)]
async fn export_show(State(state): State<AppState>, who: ApiActor, IdPath(id): IdPath) -> Result<Response, ApiError> {
    Ok(crate::api::exports::show(&state, &who.actor, id).await?)
}

/// The CSV of a finished export (409 until it is done).
#[utoipa::path(
    get,
    operation_id = "downloadExport",
    path = "/exports/{id}/download",
    tag = "exports",
    params(("id" = i64, Path, description = "The export's id", example = 1)),
    responses((status = 200, description = "The CSV file", body = String, content_type = "text/csv"))
)]
async fn export_download(
    State(state): State<AppState>,
    who: ApiActor,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    Ok(crate::api::exports::download(&state, &who.actor, &who.ctx, id).await?)
}

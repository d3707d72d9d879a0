//! `/api/users`: the list with filters, sort and pages; one user; create;
//! the actions enable, disable and activate; the user's API key; and
//! `/api/userprofile`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use muster_domain::permission::perm;
use muster_domain::{AuthStatus, Role, Selection, UserFilter, UserSort};
use muster_store::users::User;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::ApiActor;
use super::documents::{
    IncludedResource, Members, OrgIndex, Shape, ShapeParams, UserRelationships, UserRelationshipsInput,
    check_read_only, included, organization_names, organizations_relationship, refuse_client_id, role_names,
    roles_relationship, shaped,
};
use super::error::ApiError;
use super::extract::{IdPath, JsonBody, RawQuery, int_param};
use super::{PageLinks, SelfLink, document, page_links};
use crate::app::AppState;
use crate::clock;
use crate::services::{self, api_keys};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(activate))
        .routes(routes!(generate_key, revoke_key))
        .routes(routes!(userprofile))
}

/// A user's `type`: always `users`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum UsersType {
    #[serde(rename = "users")]
    Users,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ApiAuthStatus {
    Active,
    Locked,
    PasswordReset,
}

impl From<AuthStatus> for ApiAuthStatus {
    fn from(s: AuthStatus) -> Self {
        match s {
            AuthStatus::Active => ApiAuthStatus::Active,
            AuthStatus::Locked => ApiAuthStatus::Locked,
            AuthStatus::PasswordReset => ApiAuthStatus::PasswordReset,
        }
    }
}

/// A role, by its name.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub enum RoleName {
    Administrator,
    #[serde(rename = "User Manager")]
    UserManager,
    User,
}

impl From<Role> for RoleName {
    fn from(r: Role) -> Self {
        match r {
            Role::Administrator => RoleName::Administrator,
            Role::UserManager => RoleName::UserManager,
            Role::User => RoleName::User,
        }
    }
}

impl RoleName {
    pub fn name(self) -> &'static str {
        match self {
            RoleName::Administrator => Role::Administrator.name(),
            RoleName::UserManager => Role::UserManager.name(),
            RoleName::User => Role::User.name(),
        }
    }
}

/// A user's attributes. `fields[users]` may leave any of them out.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAttributes {
    #[schema(required = false)]
    pub username: String,
    #[schema(required = false)]
    pub email: String,
    #[schema(required = false)]
    pub first_name: String,
    #[schema(required = false)]
    pub last_name: String,
    #[schema(required = false)]
    pub enabled: bool,
    /// Read-only.
    #[schema(required = false)]
    pub auth_status: ApiAuthStatus,
    /// Read-only.
    #[schema(required = false)]
    pub failed_login_count: i64,
    /// Read-only.
    #[schema(required = false)]
    pub login_count: i64,
    /// Read-only.
    #[schema(format = DateTime, required = false)]
    pub last_login_at: Option<String>,
    /// Read-only.
    #[schema(format = DateTime, required = false)]
    pub created_at: String,
    /// Read-only.
    #[schema(format = DateTime, required = false)]
    pub updated_at: String,
    /// Role names; the same roles as the `roles` relationship. Kept for the clients of DESIGN §2.
    #[schema(required = false)]
    pub roles: Vec<RoleName>,
    /// Organization names; the same organizations as the `organizations` relationship.
    #[schema(required = false)]
    pub organizations: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResource {
    #[serde(rename = "type")]
    pub kind: UsersType,
    pub id: String,
    /// Absent when `fields[users]` names no attribute.
    #[schema(required = false)]
    pub attributes: UserAttributes,
    /// `roles` and `organizations`; absent when `fields[users]` names neither.
    #[schema(required = false)]
    pub relationships: UserRelationships,
    pub links: SelfLink,
}

impl UserResource {
    pub fn new(u: &User, orgs: &OrgIndex) -> Self {
        UserResource {
            kind: UsersType::Users,
            id: u.id.to_string(),
            attributes: UserAttributes {
                username: u.username.clone(),
                email: u.email.clone(),
                first_name: u.first_name.clone(),
                last_name: u.last_name.clone(),
                enabled: u.enabled,
                auth_status: u.auth_status.into(),
                failed_login_count: u.failed_login_count,
                login_count: u.login_count,
                last_login_at: u.last_login_at.map(clock::rfc3339),
                created_at: clock::rfc3339(u.created_at),
                updated_at: clock::rfc3339(u.updated_at),
                roles: u.roles.iter().map(|r| RoleName::from(*r)).collect(),
                organizations: u.organizations.clone(),
            },
            relationships: UserRelationships {
                roles: roles_relationship(u),
                organizations: organizations_relationship(u, orgs),
            },
            links: SelfLink {
                self_: format!("/api/users/{}", u.id),
            },
        }
    }
}

/// The attributes of a user as the API shows them, to compare read-only attributes a request sends back.
pub fn attributes_value(u: &User, orgs: &OrgIndex) -> Option<Value> {
    serde_json::to_value(UserResource::new(u, orgs).attributes).ok()
}

/// `{"data": user, "included": [...]}`, shaped by `include` and `fields[…]`.
pub fn user_document(u: &User, orgs: &OrgIndex, shape: &Shape) -> Result<Value, ApiError> {
    let mut doc = serde_json::Map::new();
    doc.insert("data".to_owned(), shaped(&UserResource::new(u, orgs), shape)?);
    if let Some(inc) = included(&[u], orgs, shape)? {
        doc.insert("included".to_owned(), Value::Array(inc));
    }
    Ok(Value::Object(doc))
}

/// A response with one user, in the full shape.
pub async fn user_response(state: &AppState, status: StatusCode, u: &User) -> Result<Response, ApiError> {
    let orgs = OrgIndex::load(state).await?;
    Ok(document(status, &user_document(u, &orgs, &Shape::default())?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDocument {
    pub data: UserResource,
    /// With `include=roles,organizations`: each related role and organization once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub included: Option<Vec<IncludedResource>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    /// How many users match the filters, on every page. With
    /// `totalCountIsLowerBound`, at least this many: counting stopped there.
    pub total_count: i64,
    /// `true` when counting stopped at a cap (10,000 by default) because more
    /// users match: a search at a million users is counted match by match, and
    /// that count, not the page, is what costs. `links.last` is then absent and
    /// `links.next` present. The built-in views are always counted exactly.
    pub total_count_is_lower_bound: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserListDocument {
    pub data: Vec<UserResource>,
    /// With `include=roles,organizations`: each related role and organization once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub included: Option<Vec<IncludedResource>>,
    pub meta: ListMeta,
    pub links: PageLinks,
}

/// The query of `GET /api/users`. Any other parameter is refused with a 400 that names it.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // the query is parsed strictly by `parse_list_query`; this is its documentation
struct ListParams {
    /// A built-in view.
    #[param(rename = "filter[view]", inline)]
    view: Option<ViewName>,
    #[param(rename = "filter[enabled]")]
    enabled: Option<bool>,
    /// With (true) or without (false) a second factor.
    #[param(rename = "filter[twoFactor]")]
    two_factor: Option<bool>,
    /// Comma-separated statuses.
    #[param(
        rename = "filter[authStatus]",
        pattern = r"^(active|locked|password_reset)(,(active|locked|password_reset))*$"
    )]
    auth_status: Option<String>,
    /// Exact, any case.
    #[param(rename = "filter[username]", max_length = 254, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    username: Option<String>,
    /// Exact, any case.
    #[param(rename = "filter[email]", max_length = 254, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    email: Option<String>,
    /// Contains, in first and last name, username and email.
    #[param(rename = "filter[search]", max_length = 254, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    search: Option<String>,
    /// Contains, any case (the grid's "First name contains").
    #[param(
        rename = "filter[firstName]",
        max_length = 254,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    first_name: Option<String>,
    /// Contains, any case.
    #[param(rename = "filter[lastName]", max_length = 254, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    last_name: Option<String>,
    /// Contains, any case (`filter[username]` is exact).
    #[param(
        rename = "filter[usernameContains]",
        max_length = 254,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    username_contains: Option<String>,
    /// Contains, any case (`filter[email]` is exact).
    #[param(
        rename = "filter[emailContains]",
        max_length = 254,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    email_contains: Option<String>,
    /// A role name: Administrator, User Manager or User.
    #[param(rename = "filter[role]")]
    role: Option<String>,
    /// An organization id: its members.
    #[param(rename = "filter[organization]")]
    organization: Option<i64>,
    /// Created on or after: `YYYY-MM-DD` (start of day, UTC) or an RFC 3339 time.
    #[param(rename = "filter[createdFrom]")]
    created_from: Option<String>,
    /// Created on or before: `YYYY-MM-DD` (end of day, UTC) or an RFC 3339 time.
    #[param(rename = "filter[createdTo]")]
    created_to: Option<String>,
    /// Changed on or after, as `filter[createdFrom]`.
    #[param(rename = "filter[updatedFrom]")]
    updated_from: Option<String>,
    /// Changed on or before, as `filter[createdTo]`.
    #[param(rename = "filter[updatedTo]")]
    updated_to: Option<String>,
    /// Comma-separated user ids.
    #[param(rename = "filter[id]")]
    id: Option<String>,
    /// Comma-separated fields; a leading `-` sorts descending (`lastName,-createdAt`).
    #[param(
        pattern = r"^-?(id|firstName|lastName|email|username|enabled|authStatus|organizations|roles|createdAt|updatedAt|lastLoginAt)(,-?(id|firstName|lastName|email|username|enabled|authStatus|organizations|roles|createdAt|updatedAt|lastLoginAt))*$"
    )]
    sort: Option<String>,
    #[param(rename = "page[number]", minimum = 1, maximum = 1_000_000_000)]
    page_number: Option<i64>,
    #[param(rename = "page[size]", minimum = 1, maximum = 1000)]
    page_size: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum ViewName {
    All,
    Active,
    Disabled,
    CannotLogin,
}

pub const DEFAULT_PAGE_SIZE: i64 = 20;
pub const MAX_PAGE_SIZE: i64 = 1000;
const MAX_PAGE_NUMBER: i64 = 1_000_000_000;

/// The parsed list query; `kept` are the filter and sort pairs, for the page links.
pub struct ListQuery {
    pub filter: UserFilter,
    pub sort: UserSort,
    pub page: i64,
    pub size: i64,
    pub kept: Vec<(String, String)>,
    /// `include` and `fields[…]`.
    pub shape: Shape,
}

/// The list's query: the selection in the API syntax (read by the domain's
/// one parser of it), the page, and nothing else.
pub fn parse_list_query(pairs: &[(String, String)]) -> Result<ListQuery, ApiError> {
    let mut q = ListQuery {
        filter: UserFilter::default(),
        sort: UserSort::default(),
        page: 1,
        size: DEFAULT_PAGE_SIZE,
        kept: Vec::new(),
        shape: Shape::default(),
    };
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in pairs {
        if seen.contains(&name.as_str()) {
            return Err(ApiError::parameter(format!("{name} is given twice"), name));
        }
        seen.push(name);
        match name.as_str() {
            "page[number]" => q.page = int_param(name, value, 1, MAX_PAGE_NUMBER)?,
            "page[size]" => q.size = int_param(name, value, 1, MAX_PAGE_SIZE)?,
            "sort" => q.kept.push((name.clone(), value.clone())),
            n if n.starts_with("filter[") || Shape::owns(n) => q.kept.push((name.clone(), value.clone())),
            other => {
                return Err(ApiError::parameter(format!("unknown query parameter {other:?}"), other));
            }
        }
    }
    let selection = Selection::from_api(pairs)?;
    q.filter = selection.filter;
    q.sort = selection.sort;
    q.shape = Shape::parse(pairs)?;
    Ok(q)
}

/// List the users of the key's organization.
#[utoipa::path(
    get,
    operation_id = "listUsers",
    path = "/users",
    tag = "users",
    params(ListParams, ShapeParams),
    responses((status = 200, description = "A page of users", body = UserListDocument, content_type = "application/vnd.api+json"))
)]
async fn list(State(state): State<AppState>, who: ApiActor, RawQuery(pairs): RawQuery) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::ViewUsers>()?;
    let q = parse_list_query(&pairs)?;
    let cap = state.config.count_cap;
    let page = services::users::browse(&state.store, &grant, &q.filter, &q.sort, q.page, q.size, cap).await?;
    let at_least = page.total_is_lower_bound;
    // past a capped total the last page is unknown, and a next one always exists
    let links = page_links(
        "/api/users",
        &q.kept,
        q.page,
        q.size,
        (!at_least).then_some(page.total),
        at_least,
    );
    let orgs = OrgIndex::load(&state).await?;
    let data = page
        .users
        .iter()
        .map(|u| shaped(&UserResource::new(u, &orgs), &q.shape))
        .collect::<Result<Vec<_>, _>>()?;
    let users: Vec<&User> = page.users.iter().collect();
    let mut doc = serde_json::Map::new();
    doc.insert("data".to_owned(), Value::Array(data));
    if let Some(inc) = included(&users, &orgs, &q.shape)? {
        doc.insert("included".to_owned(), Value::Array(inc));
    }
    doc.insert(
        "meta".to_owned(),
        serde_json::json!(ListMeta {
            total_count: page.total,
            total_count_is_lower_bound: at_least,
        }),
    );
    doc.insert("links".to_owned(), serde_json::json!(links));
    Ok(document(StatusCode::OK, &Value::Object(doc)))
}

/// The query of one user: `include` and `fields[…]` only.
fn shape_only(pairs: &[(String, String)]) -> Result<Shape, ApiError> {
    if let Some((name, _)) = pairs.iter().find(|(k, _)| !Shape::owns(k)) {
        return Err(ApiError::parameter(format!("unknown query parameter {name:?}"), name));
    }
    Shape::parse(pairs)
}

/// One user of the key's organization.
#[utoipa::path(
    get,
    operation_id = "getUser",
    path = "/users/{id}",
    tag = "users",
    params(("id" = i64, Path, description = "The user's id", example = 2), ShapeParams),
    responses((status = 200, description = "The user", body = UserDocument, content_type = "application/vnd.api+json"))
)]
async fn get_one(
    State(state): State<AppState>,
    who: ApiActor,
    IdPath(id): IdPath,
    RawQuery(pairs): RawQuery,
) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::ViewUsers>()?;
    let shape = shape_only(&pairs)?;
    let user = services::users::get(&state.store, &grant, id).await?;
    let orgs = OrgIndex::load(&state).await?;
    Ok(document(StatusCode::OK, &user_document(&user, &orgs, &shape)?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateUserAttributes {
    /// Letters, digits, `.`, `_`, `-`, `@`; unique, any case.
    #[schema(pattern = r"^\s*[\w.@-]{1,64}\s*$")]
    username: String,
    /// Unique, any case: `local@domain.tld`, no spaces, quotes or `< > , ;`.
    #[schema(
        max_length = 254,
        pattern = r#"^\s*[^\s\x00-\x1f\x7f-\x9f<>,;"]+@[^\s\x00-\x1f\x7f-\x9f<>,;"@.]+(\.[^\s\x00-\x1f\x7f-\x9f<>,;"@.]+)+\s*$"#
    )]
    email: String,
    /// Something besides spaces; no control characters.
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    first_name: String,
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    last_name: String,
    /// Write-only. Without one, the user is in password reset until they set one through a reset link.
    /// The policy (settings) also wants it strong (zxcvbn) and unlike the user's names and email.
    #[schema(write_only, min_length = 12, max_length = 128)]
    password: Option<String>,
    /// Write-only, instead of `password`: a hash made by another application (bcrypt, Django,
    /// Symfony/Oro `sha512-symfony$…`, PBKDF2 or Argon2 PHC), replaced by Argon2id at the first sign-in.
    #[schema(write_only)]
    #[serde(alias = "password_hash")]
    password_hash: Option<String>,
    /// Default true.
    enabled: Option<bool>,
    /// Default `User`.
    #[schema(min_items = 1)]
    roles: Option<Vec<RoleName>>,
    /// Organization names; default the key's organization. Or the `organizations` relationship.
    #[schema(min_items = 1)]
    organizations: Option<Vec<String>>,
    /// Read-only attributes: a new user has none of them to set, so each is a 422 here
    /// (left out of the schema: no valid document carries one).
    #[serde(default)]
    #[schema(value_type = Option<ApiAuthStatus>, ignore)]
    auth_status: Option<Value>,
    /// Read-only.
    #[serde(default)]
    #[schema(value_type = Option<i64>, ignore)]
    failed_login_count: Option<Value>,
    /// Read-only.
    #[serde(default)]
    #[schema(value_type = Option<i64>, ignore)]
    login_count: Option<Value>,
    /// Read-only.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime, ignore)]
    last_login_at: Option<Value>,
    /// Read-only.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime, ignore)]
    created_at: Option<Value>,
    /// Read-only.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime, ignore)]
    updated_at: Option<Value>,
}

impl CreateUserAttributes {
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateUserData {
    #[serde(rename = "type")]
    kind: UsersType,
    /// Client-generated ids are not supported: 403 (left out of the schema: no valid document has one).
    #[serde(default)]
    #[schema(ignore)]
    id: Option<String>,
    #[serde(default)]
    lid: Option<String>,
    #[serde(deserialize_with = "super::extract::object::required")]
    attributes: CreateUserAttributes,
    /// `roles` and `organizations`, instead of the attributes of the same names.
    #[serde(default, deserialize_with = "super::extract::object::optional")]
    relationships: Option<UserRelationshipsInput>,
    #[serde(default)]
    links: Option<Members>,
    #[serde(default)]
    meta: Option<Members>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateUserDocument {
    #[serde(deserialize_with = "super::extract::object::required")]
    data: CreateUserData,
    #[serde(default)]
    meta: Option<Members>,
    #[serde(default)]
    jsonapi: Option<Members>,
    #[serde(default)]
    links: Option<Members>,
}

/// A list given both as an attribute and as a relationship must say the same.
pub fn one_of<T: PartialEq>(attribute: Option<T>, relationship: Option<T>, name: &str) -> Result<Option<T>, ApiError> {
    match (attribute, relationship) {
        (Some(a), Some(r)) if a != r => Err(muster_domain::Error::invalid(
            format!("/data/relationships/{name}"),
            format!("{name}: the attribute and the relationship name different {name}; send one of them"),
        )
        .into()),
        (Some(a), _) => Ok(Some(a)),
        (None, r) => Ok(r),
    }
}

/// Create a user. `roles` and `organizations` may be attributes (names) or relationships.
#[utoipa::path(
    post,
    operation_id = "createUser",
    path = "/users",
    tag = "users",
    request_body(
        content = CreateUserDocument,
        content_type = "application/vnd.api+json",
        example = json!({"data": {"type": "users", "attributes": {"username": "jsmith", "email": "jsmith@example.com", "firstName": "John", "lastName": "Smith", "password": "Plum-Harbor-Telescope-88", "roles": ["User"]}}})
    ),
    responses((status = 201, description = "The new user", body = UserDocument, content_type = "application/vnd.api+json"))
)]
async fn create(
    State(state): State<AppState>,
    who: ApiActor,
    JsonBody(doc): JsonBody<CreateUserDocument>,
) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::CreateUsers>()?;
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
    let a = doc.data.attributes;
    check_read_only(&a.read_only(), None)?;
    let rels = doc.data.relationships.unwrap_or_default();
    let orgs = OrgIndex::load(&state).await?;
    let rel_orgs = rels
        .organizations
        .map(|l| organization_names(&l.data, &orgs, "/data/relationships/organizations/data"))
        .transpose()?;
    let rel_roles = rels.roles.map(|l| role_names(&l.data));
    let attr_roles = a
        .roles
        .map(|r| r.into_iter().map(|r| r.name().to_owned()).collect::<Vec<_>>());
    let roles = one_of(attr_roles, rel_roles, "roles")?;
    let given_orgs = one_of(a.organizations, rel_orgs, "organizations")?;
    let imported_hash = a
        .password_hash
        .as_deref()
        .map(muster_domain::password_hash::parse)
        .transpose()?;
    let organizations = match given_orgs {
        Some(o) => o,
        None => services::organizations::list_mine(&state.store, &who.actor)
            .await?
            .into_iter()
            .filter(|o| who.actor.organization_ids.contains(&o.id))
            .map(|o| o.name)
            .collect(),
    };
    let input = services::users::UserInput {
        username: a.username,
        email: a.email,
        first_name: a.first_name,
        last_name: a.last_name,
        password: a.password,
        enabled: a.enabled.unwrap_or(true),
        roles: roles.unwrap_or_else(|| vec![RoleName::User.name().to_owned()]),
        organizations,
    };
    let user = services::users::create_with_hash(
        &state.store,
        &state.hasher,
        &grant,
        &who.ctx,
        &input,
        imported_hash.as_ref(),
    )
    .await?;
    let mut resp = user_response(&state, StatusCode::CREATED, &user).await?;
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("/api/users/{}", user.id)) {
        resp.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    Ok(resp)
}

/// Enable a user.
#[utoipa::path(
    post,
    operation_id = "enableUser",
    path = "/users/{id}/enable",
    tag = "user actions",
    params(("id" = i64, Path, description = "The user's id", example = 2)),
    responses((status = 200, description = "The user, enabled", body = UserDocument, content_type = "application/vnd.api+json"))
)]
async fn enable(State(state): State<AppState>, who: ApiActor, IdPath(id): IdPath) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::EnableDisable>()?;
    let user = services::users::set_enabled(&state.store, &grant, &who.ctx, id, true).await?;
    user_response(&state, StatusCode::OK, &user).await
}

/// Disable a user: their sessions end and their API keys stop working. Not oneself (403).
#[utoipa::path(
    post,
    operation_id = "disableUser",
    path = "/users/{id}/disable",
    tag = "user actions",
    params(("id" = i64, Path, description = "The user's id", example = 2)),
    responses((status = 200, description = "The user, disabled", body = UserDocument, content_type = "application/vnd.api+json"))
)]
async fn disable(State(state): State<AppState>, who: ApiActor, IdPath(id): IdPath) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::EnableDisable>()?;
    let user = services::users::set_enabled(&state.store, &grant, &who.ctx, id, false).await?;
    user_response(&state, StatusCode::OK, &user).await
}

/// Activate a locked user: status `active`, failed-login counter 0. A user in password reset is a 409.
#[utoipa::path(
    post,
    operation_id = "activateUser",
    path = "/users/{id}/activate",
    tag = "user actions",
    params(("id" = i64, Path, description = "The user's id", example = 2)),
    responses((status = 200, description = "The user, active", body = UserDocument, content_type = "application/vnd.api+json"))
)]
async fn activate(State(state): State<AppState>, who: ApiActor, IdPath(id): IdPath) -> Result<Response, ApiError> {
    let grant = who.actor.allow::<perm::Activate>()?;
    let user = services::users::activate(&state.store, &grant, &who.ctx, id).await?;
    user_response(&state, StatusCode::OK, &user).await
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
enum ApiKeysType {
    #[serde(rename = "apiKeys")]
    ApiKeys,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ApiKeyAttributes {
    /// The key. Shown in this response only: it is stored hashed.
    api_key: String,
    /// The first characters of the key, as the UI shows them.
    key_prefix: String,
    organization: String,
    #[schema(format = DateTime)]
    created_at: String,
}

#[derive(Serialize, ToSchema)]
struct ApiKeyResource {
    #[serde(rename = "type")]
    kind: ApiKeysType,
    id: String,
    attributes: ApiKeyAttributes,
}

#[derive(Serialize, ToSchema)]
struct ApiKeyDocument {
    data: ApiKeyResource,
}

/// Generate the user's API key in the key's organization, replacing the one they had there.
/// One's own key needs no permission; another user's needs an administrator.
#[utoipa::path(
    post,
    operation_id = "generateUserApiKey",
    path = "/users/{id}/api-key",
    tag = "user actions",
    params(("id" = i64, Path, description = "The user's id", example = 2)),
    responses((status = 201, description = "The new key, shown once", body = ApiKeyDocument, content_type = "application/vnd.api+json"))
)]
async fn generate_key(State(state): State<AppState>, who: ApiActor, IdPath(id): IdPath) -> Result<Response, ApiError> {
    let org = who.actor.organization_ids.first().copied();
    let new = api_keys::generate(&state.store, &who.actor, &who.ctx, id, org).await?;
    let mut resp = document(
        StatusCode::CREATED,
        &ApiKeyDocument {
            data: ApiKeyResource {
                kind: ApiKeysType::ApiKeys,
                id: new.key.id.to_string(),
                attributes: ApiKeyAttributes {
                    api_key: new.secret,
                    key_prefix: new.key.key_prefix,
                    organization: new.organization_name,
                    created_at: clock::rfc3339(new.key.created_at),
                },
            },
        },
    );
    // the key must not sit in any cache
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

/// Revoke the user's API key in the key's organization (404 if they have none).
#[utoipa::path(
    delete,
    operation_id = "revokeUserApiKey",
    path = "/users/{id}/api-key",
    tag = "user actions",
    params(("id" = i64, Path, description = "The user's id", example = 2)),
    responses((status = 204, description = "Revoked"))
)]
async fn revoke_key(State(state): State<AppState>, who: ApiActor, IdPath(id): IdPath) -> Result<StatusCode, ApiError> {
    let org = who.actor.organization_ids.first().copied();
    api_keys::revoke(&state.store, &who.actor, &who.ctx, id, org).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user the API key belongs to.
#[utoipa::path(
    get,
    operation_id = "getUserProfile",
    path = "/userprofile",
    tag = "users",
    responses((status = 200, description = "The key's user", body = UserDocument, content_type = "application/vnd.api+json"))
)]
async fn userprofile(State(state): State<AppState>, who: ApiActor) -> Result<Response, ApiError> {
    user_response(&state, StatusCode::OK, &who.user).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_domain::View;

    fn pairs(q: &str) -> Vec<(String, String)> {
        serde_urlencoded::from_str(q).unwrap()
    }

    #[test]
    fn list_query_is_strict_and_names_unknown_fields() {
        let q = parse_list_query(&pairs("filter[view]=cannot_login&filter[authStatus]=locked,password_reset&sort=lastName,-createdAt&page[number]=2&page[size]=5")).unwrap();
        assert_eq!(q.filter.view, Some(View::CannotLogin));
        assert_eq!(
            q.filter.auth_statuses,
            vec![AuthStatus::Locked, AuthStatus::PasswordReset]
        );
        assert_eq!((q.page, q.size), (2, 5));
        assert_eq!(q.kept.len(), 3);
        for (bad, named) in [
            ("filter[colour]=red", "filter[colour]"),
            ("sort=password", "password"),
            ("page[size]=0", "page[size]"),
            ("page[size]=1001", "page[size]"),
            ("filter[enabled]=maybe", "filter[enabled]"),
            ("filter[authStatus]=frozen", "frozen"),
            ("filter[view]=mine", "mine"),
            ("colour=red", "colour"),
            ("sort=", "sort"),
            ("filter[search]=a%00b", "filter[search]"),
        ] {
            let e = parse_list_query(&pairs(bad))
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(e.errors[0].detail.contains(named), "{bad}: {:?}", e.errors[0].detail);
        }
    }

    #[test]
    fn documented_sort_pattern_names_every_sort_field() {
        let (_, doc) = crate::api::openapi_router();
        let json = serde_json::to_value(&doc).unwrap();
        let params = json["paths"]["/users"]["get"]["parameters"].as_array().unwrap();
        let sort = params.iter().find(|p| p["name"] == "sort").unwrap();
        let pattern = sort["schema"]["pattern"].as_str().unwrap();
        for f in muster_domain::SortField::ALL {
            assert!(pattern.contains(f.api_name()), "{f:?} missing from the sort pattern");
        }
    }
}

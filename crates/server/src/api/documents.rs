//! The JSON:API side of a user document, beyond its attributes: the
//! relationships to `roles` and `organizations`, compound documents
//! (`include=roles,organizations` → `included`), sparse fieldsets
//! (`fields[users]=…`), and what a request's resource object may carry besides
//! its attributes (`relationships`, `links`, `meta`, `lid`), as JSON:API 1.1 allows.
//!
//! The attribute arrays `roles` and `organizations` (names, DESIGN §2) stay
//! beside the relationships of the same names: they are the contract of
//! existing clients. JSON:API wants one namespace for attributes and
//! relationships; `docs/api.md` says so and how clients read each.

use std::collections::BTreeMap;

use muster_domain::Role;
use muster_store::organizations::Organization;
use muster_store::users::User;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::ApiError;
use crate::app::AppState;
use crate::clock;
use crate::error::AppError;

/// Free-form members (`links`, `meta`, …) a client may send: an object; muster reads none of them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Members(pub BTreeMap<String, Value>);

impl utoipa::PartialSchema for Members {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::Object)
            .into()
    }
}

impl ToSchema for Members {}

/// `type` of a role: always `roles`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub enum RolesType {
    #[serde(rename = "roles")]
    Roles,
}

/// `type` of an organization: always `organizations`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub enum OrganizationsType {
    #[serde(rename = "organizations")]
    Organizations,
}

/// A role's id: its name in snake_case.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RoleId {
    Administrator,
    UserManager,
    User,
}

impl RoleId {
    pub fn of(r: Role) -> RoleId {
        match r {
            Role::Administrator => RoleId::Administrator,
            Role::UserManager => RoleId::UserManager,
            Role::User => RoleId::User,
        }
    }

    pub fn role(self) -> Role {
        match self {
            RoleId::Administrator => Role::Administrator,
            RoleId::UserManager => Role::UserManager,
            RoleId::User => Role::User,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleIdentifier {
    #[serde(rename = "type")]
    pub kind: RolesType,
    pub id: RoleId,
    #[serde(default, skip_serializing)]
    #[allow(dead_code)] // allowed in a request (JSON:API), not read
    pub meta: Option<Members>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationIdentifier {
    #[serde(rename = "type")]
    pub kind: OrganizationsType,
    /// The organization's id.
    #[schema(example = "1")]
    pub id: String,
    #[serde(default, skip_serializing)]
    #[allow(dead_code)] // allowed in a request (JSON:API), not read
    pub meta: Option<Members>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RelationshipLinks {
    /// The relationship itself: GET to read, PATCH to replace.
    #[serde(rename = "self")]
    pub self_: String,
}

/// A user's roles: the resource linkage, as in a user and at `/users/{id}/relationships/roles`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RolesRelationship {
    pub data: Vec<RoleIdentifier>,
    pub links: RelationshipLinks,
}

/// A user's organizations, as in a user and at `/users/{id}/relationships/organizations`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationsRelationship {
    pub data: Vec<OrganizationIdentifier>,
    pub links: RelationshipLinks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserRelationships {
    #[schema(required = false)]
    pub roles: RolesRelationship,
    #[schema(required = false)]
    pub organizations: OrganizationsRelationship,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleAttributes {
    /// The role's name, as in the user's `roles` attribute.
    pub name: String,
}

/// A role, in `included`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleResource {
    #[serde(rename = "type")]
    pub kind: RolesType,
    pub id: RoleId,
    /// Absent when `fields[roles]` names no field.
    #[schema(required = false)]
    pub attributes: RoleAttributes,
}

impl RoleResource {
    pub fn of(r: Role) -> RoleResource {
        RoleResource {
            kind: RolesType::Roles,
            id: RoleId::of(r),
            attributes: RoleAttributes {
                name: r.name().to_owned(),
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationAttributes {
    #[schema(required = false)]
    pub name: String,
    #[schema(format = DateTime, required = false)]
    pub created_at: String,
}

/// An organization, in `GET /organizations` and in `included`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationResource {
    #[serde(rename = "type")]
    pub kind: OrganizationsType,
    pub id: String,
    /// Absent in `included` when `fields[organizations]` names no field.
    #[schema(required = false)]
    pub attributes: OrganizationAttributes,
}

impl From<&Organization> for OrganizationResource {
    fn from(o: &Organization) -> Self {
        OrganizationResource {
            kind: OrganizationsType::Organizations,
            id: o.id.to_string(),
            attributes: OrganizationAttributes {
                name: o.name.clone(),
                created_at: clock::rfc3339(o.created_at),
            },
        }
    }
}

/// A resource of `included`: a role or an organization.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // the documentation of `included`, which `included()` renders
pub enum IncludedResource {
    Role(RoleResource),
    Organization(OrganizationResource),
}

/// Every organization, to turn a user's organization names into ids (a short table).
pub struct OrgIndex(Vec<Organization>);

impl OrgIndex {
    pub async fn load(state: &AppState) -> Result<OrgIndex, ApiError> {
        let mut conn = state.store.conn().await.map_err(AppError::from)?;
        Ok(OrgIndex(muster_store::organizations::list(&mut conn).await?))
    }

    pub fn by_name(&self, name: &str) -> Option<&Organization> {
        self.0.iter().find(|o| o.name == name)
    }

    pub fn by_id(&self, id: i64) -> Option<&Organization> {
        self.0.iter().find(|o| o.id == id)
    }

    /// A user's organizations, in the order of their names.
    pub fn of_user<'a>(&'a self, u: &'a User) -> impl Iterator<Item = &'a Organization> + 'a {
        u.organizations.iter().filter_map(|n| self.by_name(n))
    }
}

pub fn roles_relationship(u: &User) -> RolesRelationship {
    RolesRelationship {
        data: u
            .roles
            .iter()
            .map(|r| RoleIdentifier {
                kind: RolesType::Roles,
                id: RoleId::of(*r),
                meta: None,
            })
            .collect(),
        links: RelationshipLinks {
            self_: format!("/api/users/{}/relationships/roles", u.id),
        },
    }
}

pub fn organizations_relationship(u: &User, orgs: &OrgIndex) -> OrganizationsRelationship {
    OrganizationsRelationship {
        data: orgs
            .of_user(u)
            .map(|o| OrganizationIdentifier {
                kind: OrganizationsType::Organizations,
                id: o.id.to_string(),
                meta: None,
            })
            .collect(),
        links: RelationshipLinks {
            self_: format!("/api/users/{}/relationships/organizations", u.id),
        },
    }
}

/// The fields of a user, for `fields[users]`: attributes and relationships share names.
pub const USER_FIELDS: [&str; 13] = [
    "username",
    "email",
    "firstName",
    "lastName",
    "enabled",
    "authStatus",
    "failedLoginCount",
    "loginCount",
    "lastLoginAt",
    "createdAt",
    "updatedAt",
    "roles",
    "organizations",
];
const ROLE_FIELDS: [&str; 1] = ["name"];
const ORGANIZATION_FIELDS: [&str; 2] = ["name", "createdAt"];
const INCLUDES: [&str; 2] = ["roles", "organizations"];

/// `include` and `fields[TYPE]` of a GET that answers users.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // parsed strictly by `Shape::parse`; this is its documentation
pub struct ShapeParams {
    /// Related resources to add in `included`: `roles`, `organizations`, or both.
    #[param(pattern = r"^(roles|organizations)(,(roles|organizations))*$")]
    include: Option<String>,
    /// The users' fields to send (attributes and relationships), comma-separated.
    #[param(
        rename = "fields[users]",
        pattern = r"^((username|email|firstName|lastName|enabled|authStatus|failedLoginCount|loginCount|lastLoginAt|createdAt|updatedAt|roles|organizations)(,(username|email|firstName|lastName|enabled|authStatus|failedLoginCount|loginCount|lastLoginAt|createdAt|updatedAt|roles|organizations))*)?$"
    )]
    fields_users: Option<String>,
    /// The included roles' fields: `name`.
    #[param(rename = "fields[roles]", pattern = r"^(name)?$")]
    fields_roles: Option<String>,
    /// The included organizations' fields: `name`, `createdAt`.
    #[param(
        rename = "fields[organizations]",
        pattern = r"^((name|createdAt)(,(name|createdAt))*)?$"
    )]
    fields_organizations: Option<String>,
}

/// What a GET asked of the document's shape: `include` and `fields[TYPE]`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Shape {
    pub include_roles: bool,
    pub include_organizations: bool,
    /// Per type, the fields to keep; a type not named keeps all of them.
    pub fields: BTreeMap<String, Vec<String>>,
}

impl Shape {
    /// Whether the query parameter is one of those [`Shape::parse`] reads.
    pub fn owns(name: &str) -> bool {
        name == "include" || (name.starts_with("fields[") && name.ends_with(']'))
    }

    /// Read `include` and `fields[TYPE]`; other parameters are the caller's.
    /// Every problem is a 400 naming its parameter.
    pub fn parse(pairs: &[(String, String)]) -> Result<Shape, ApiError> {
        let mut shape = Shape::default();
        for (name, value) in pairs {
            if name == "include" {
                for path in value.split(',').map(str::trim) {
                    match path {
                        "roles" => shape.include_roles = true,
                        "organizations" => shape.include_organizations = true,
                        other => {
                            return Err(ApiError::parameter(
                                format!("include: cannot include {other:?}: expected {}", INCLUDES.join(" or ")),
                                "include",
                            ));
                        }
                    }
                }
            } else if let Some(kind) = name.strip_prefix("fields[").and_then(|n| n.strip_suffix(']')) {
                let known: &[&str] = match kind {
                    "users" => &USER_FIELDS,
                    "roles" => &ROLE_FIELDS,
                    "organizations" => &ORGANIZATION_FIELDS,
                    other => {
                        return Err(ApiError::parameter(
                            format!("{name}: unknown type {other:?}: expected users, roles or organizations"),
                            name,
                        ));
                    }
                };
                let mut kept = Vec::new();
                for f in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                    if !known.contains(&f) {
                        return Err(ApiError::parameter(
                            format!("{name}: unknown field {f:?}: expected some of {}", known.join(", ")),
                            name,
                        ));
                    }
                    kept.push(f.to_owned());
                }
                if shape.fields.insert(kind.to_owned(), kept).is_some() {
                    return Err(ApiError::parameter(format!("{name} is given twice"), name));
                }
            }
        }
        Ok(shape)
    }

    /// Keep only the fields of `fields[TYPE]` in a resource object.
    fn apply(&self, resource: &mut Value) {
        let Some(kind) = resource.get("type").and_then(Value::as_str) else {
            return;
        };
        let Some(kept) = self.fields.get(kind) else { return };
        for member in ["attributes", "relationships"] {
            if let Some(Value::Object(map)) = resource.get_mut(member) {
                map.retain(|k, _| kept.iter().any(|f| f == k));
                if map.is_empty()
                    && let Some(obj) = resource.as_object_mut()
                {
                    obj.remove(member);
                }
            }
        }
    }
}

fn to_value<T: Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| AppError::fault("cannot render a resource", e).into())
}

/// A user resource as sent: `base` is the typed resource, shaped by `fields[users]`.
pub fn shaped<T: Serialize>(base: &T, shape: &Shape) -> Result<Value, ApiError> {
    let mut v = to_value(base)?;
    shape.apply(&mut v);
    Ok(v)
}

/// The `included` member for these users: each role and organization once.
pub fn included(users: &[&User], orgs: &OrgIndex, shape: &Shape) -> Result<Option<Vec<Value>>, ApiError> {
    if !shape.include_roles && !shape.include_organizations {
        return Ok(None);
    }
    let mut out = Vec::new();
    if shape.include_roles {
        let mut roles: Vec<Role> = users.iter().flat_map(|u| u.roles.iter().copied()).collect();
        roles.sort();
        roles.dedup();
        for r in roles {
            out.push(shaped(&RoleResource::of(r), shape)?);
        }
    }
    if shape.include_organizations {
        let mut ids: Vec<i64> = Vec::new();
        for u in users {
            for o in orgs.of_user(u) {
                if !ids.contains(&o.id) {
                    ids.push(o.id);
                    out.push(shaped(&OrganizationResource::from(o), shape)?);
                }
            }
        }
    }
    Ok(Some(out))
}

/// A relationship object of a request: its linkage, and the `links` and `meta` JSON:API allows.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesLinkage {
    #[serde(deserialize_with = "super::extract::object::list")]
    pub data: Vec<RoleIdentifier>,
    #[serde(default)]
    #[allow(dead_code)] // allowed in a request (JSON:API), not read
    pub links: Option<Members>,
    #[serde(default)]
    #[allow(dead_code)]
    pub meta: Option<Members>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationsLinkage {
    #[serde(deserialize_with = "super::extract::object::list")]
    pub data: Vec<OrganizationIdentifier>,
    #[serde(default)]
    #[allow(dead_code)] // allowed in a request (JSON:API), not read
    pub links: Option<Members>,
    #[serde(default)]
    #[allow(dead_code)]
    pub meta: Option<Members>,
}

/// The relationships a user's request may set (either may be left out; `{}` sets nothing).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRelationshipsInput {
    #[serde(default, deserialize_with = "super::extract::object::optional")]
    pub roles: Option<RolesLinkage>,
    #[serde(default, deserialize_with = "super::extract::object::optional")]
    pub organizations: Option<OrganizationsLinkage>,
}

/// JSON:API: a server that does not support client-generated ids answers 403 to one.
pub fn refuse_client_id(id: Option<&str>) -> Result<(), ApiError> {
    match id {
        None => Ok(()),
        Some(_) => Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            "Client-generated ids are not supported: leave data.id out; the server assigns it.",
            super::error::source_of("/data/id"),
        )),
    }
}

/// A resource without relationships accepts `"relationships": {}` (what generic clients send), nothing in it.
pub fn refuse_relationships(rels: Option<&Members>) -> Result<(), ApiError> {
    match rels.and_then(|r| r.0.keys().next()) {
        None => Ok(()),
        Some(name) => Err(ApiError::bad_request(
            format!("unknown relationship {name:?}: this resource has none"),
            format!("/data/relationships/{name}"),
        )),
    }
}

/// Organization identifiers → names; an unknown one is a 404 pointing at it (JSON:API:
/// a related resource that does not exist). `at` is the pointer of the linkage's `data`.
pub fn organization_names(ids: &[OrganizationIdentifier], orgs: &OrgIndex, at: &str) -> Result<Vec<String>, ApiError> {
    ids.iter()
        .enumerate()
        .map(|(i, ident)| {
            ident
                .id
                .trim()
                .parse::<i64>()
                .ok()
                .and_then(|id| orgs.by_id(id))
                .map(|o| o.name.clone())
                .ok_or_else(|| {
                    ApiError::new(
                        axum::http::StatusCode::NOT_FOUND,
                        "not_found",
                        "Not found",
                        format!("There is no organization {:?}.", ident.id),
                        super::error::source_of(&format!("{at}/{i}/id")),
                    )
                })
        })
        .collect()
}

pub fn role_names(ids: &[RoleIdentifier]) -> Vec<String> {
    ids.iter().map(|r| r.id.role().name().to_owned()).collect()
}

/// The read-only attributes of a user: sent unchanged they are ignored (a client may send back
/// what it read); a different value is a 422 on the attribute.
pub fn check_read_only(given: &[(&str, &Option<Value>)], current: Option<&Value>) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    for (name, value) in given {
        let Some(value) = value else { continue };
        let now = current.and_then(|c| c.get(*name));
        if now != Some(value) {
            errors.push(muster_domain::FieldError::new(
                format!("/data/attributes/{name}"),
                format!("{name} is read-only"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(muster_domain::Error::Invalid(errors).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        serde_urlencoded::from_str(q).unwrap()
    }

    #[test]
    fn include_and_fields_are_read_strictly() {
        let s = Shape::parse(&pairs(
            "include=roles,organizations&fields[users]=username,roles&fields[roles]=name",
        ))
        .unwrap();
        assert!(s.include_roles && s.include_organizations);
        assert_eq!(s.fields["users"], vec!["username", "roles"]);
        for (bad, param) in [
            ("include=manager", "include"),
            ("include=roles.users", "include"),
            ("fields[users]=password", "fields[users]"),
            ("fields[people]=name", "fields[people]"),
        ] {
            let e = Shape::parse(&pairs(bad)).unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(e.errors[0].source.parameter.as_deref(), Some(param), "{bad}");
            assert!(!e.errors[0].source.pointer.contains("attributes"), "{bad}");
        }
    }

    #[test]
    fn a_fieldset_keeps_only_its_fields() {
        let s = Shape::parse(&pairs("fields[users]=email")).unwrap();
        let mut v = serde_json::json!({"type": "users", "id": "1",
            "attributes": {"email": "a@b.c", "username": "a"},
            "relationships": {"roles": {"data": []}}});
        s.apply(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"type": "users", "id": "1", "attributes": {"email": "a@b.c"}})
        );
    }

    #[test]
    fn read_only_attributes_may_be_sent_back_unchanged() {
        let current = serde_json::json!({"loginCount": 3, "lastLoginAt": null});
        let same = Some(serde_json::json!(3));
        let null = Some(Value::Null);
        assert!(check_read_only(&[("loginCount", &same), ("lastLoginAt", &null)], Some(&current)).is_ok());
        let other = Some(serde_json::json!(4));
        let e = check_read_only(&[("loginCount", &other)], Some(&current)).unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.errors[0].source.pointer, "/data/attributes/loginCount");
    }
}

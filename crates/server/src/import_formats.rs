//! Whole exports of other systems read as muster's users CSV, so that they go
//! through the one import path (`services::imports`: savepoint per row, the
//! acting rule, the dry-run report): `manage.py dumpdata auth.user` of Django
//! and a Keycloak realm export.
//!
//! Reading is all or nothing: a file that is not what it should be is refused
//! with the place of the problem (`users[3].credentials[0].secretData: …`) and
//! nothing is imported. Problems of one user (a bad email, an unknown
//! organization) reject that user only, as in the CSV import.

use std::collections::HashMap;

use muster_domain::password_hash::{Prf, argon2_phc_of, decode_b64, pbkdf2_phc};
use muster_domain::{Error as DomainError, FieldError, Millis, Role};
use serde::Deserialize;
use serde_json::Value;

use crate::clock;
use crate::user_csv::columns::guard;

/// One user, in muster's terms, from another system's export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportUser {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub enabled: bool,
    pub organizations: Vec<String>,
    pub roles: Vec<String>,
    pub created_at: Option<Millis>,
    pub last_login_at: Option<Millis>,
    /// `None`: no usable password; the user is created in password reset.
    pub password_hash: Option<String>,
}

/// `KEY=VALUE` pairs of `--role-map` and `--org-map`; keys compare without regard to case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameMap(Vec<(String, String)>);

impl NameMap {
    /// Parse `KEY=VALUE` items (each may also hold several, separated by `,`).
    pub fn parse(option: &str, items: &[String]) -> Result<NameMap, DomainError> {
        let mut pairs = Vec::new();
        for item in items.iter().flat_map(|i| i.split(',')) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            match item.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                    pairs.push((k.trim().to_owned(), v.trim().to_owned()));
                }
                _ => {
                    return Err(DomainError::invalid(
                        option,
                        format!("{item:?} must be written NAME=VALUE"),
                    ));
                }
            }
        }
        Ok(NameMap(pairs))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every value must be a muster role.
    pub fn check_roles(&self) -> Result<(), DomainError> {
        for (k, v) in &self.0 {
            Role::parse(v).map_err(|_| {
                DomainError::invalid(
                    "--role-map",
                    format!("{k}={v}: {v:?} is not a role (Administrator, User Manager or User)"),
                )
            })?;
        }
        Ok(())
    }
}

/// A problem of the file at `place`.
fn at(place: &str, message: impl std::fmt::Display) -> FieldError {
    FieldError::new(place, message.to_string())
}

fn refuse(errors: Vec<FieldError>) -> DomainError {
    DomainError::Invalid(errors)
}

/// Parse JSON into `T`, naming the place of the first problem.
fn from_json<T: for<'de> Deserialize<'de>>(what: &str, bytes: &[u8]) -> Result<T, DomainError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let place = e.path().to_string();
        let inner = e.into_inner();
        let place = if place == "." { what.to_owned() } else { place };
        DomainError::invalid(
            place,
            format!("{inner} (line {}, column {})", inner.line(), inner.column()),
        )
    })
}

/// The users CSV of these users, in muster's format.
pub fn to_csv(users: &[ImportUser]) -> Result<Vec<u8>, DomainError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| DomainError::invalid("file", e.to_string());
    w.write_record([
        "username",
        "email",
        "first_name",
        "last_name",
        "enabled",
        "organizations",
        "roles",
        "created_at",
        "last_login_at",
        "password_hash",
    ])
    .map_err(fail)?;
    for u in users {
        let time = |t: Option<Millis>| t.map(clock::rfc3339).unwrap_or_default();
        w.write_record([
            guard(u.username.clone()),
            guard(u.email.clone()),
            guard(u.first_name.clone()),
            guard(u.last_name.clone()),
            u.enabled.to_string(),
            guard(u.organizations.join(", ")),
            u.roles.join(", "),
            time(u.created_at),
            time(u.last_login_at),
            u.password_hash.clone().unwrap_or_default(),
        ])
        .map_err(fail)?;
    }
    w.into_inner().map_err(|e| DomainError::invalid("file", e.to_string()))
}

/// A user without a first or last name (Django allows it) gets the username there.
fn name_or(name: &str, username: &str) -> String {
    let n = name.trim();
    if n.is_empty() {
        username.to_owned()
    } else {
        n.to_owned()
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = Vec::new();
    v.retain(|x| {
        let k = x.to_lowercase();
        let new = !seen.contains(&k);
        seen.push(k);
        new
    });
    v
}

// ---------------------------------------------------------------- Django

#[derive(Deserialize)]
struct DjangoObject {
    model: String,
    #[serde(default)]
    fields: DjangoFields,
}

#[derive(Deserialize, Default)]
struct DjangoFields {
    #[serde(default)]
    username: String,
    /// Absent on objects of other models (groups, permissions…).
    password: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default = "yes")]
    is_active: bool,
    #[serde(default)]
    is_staff: bool,
    #[serde(default)]
    is_superuser: bool,
    date_joined: Option<String>,
    last_login: Option<String>,
    /// Ids, or `[["name"]]` with `--natural-foreign`.
    #[serde(default)]
    groups: Vec<Value>,
}

fn yes() -> bool {
    true
}

/// A Django datetime: RFC 3339, or without an offset (a naive time, taken as UTC).
fn django_time(place: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<Millis> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let parsed = clock::parse_date(raw, false).or_else(|| clock::parse_date(&format!("{raw}Z"), false));
    if parsed.is_none() {
        errors.push(at(place, format!("{raw:?} is not a date and time")));
    }
    parsed
}

fn group_key(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        // natural key: ["name"]
        Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// Users of `manage.py dumpdata auth.user` (or of a custom user model: any object with a
/// `password` field; objects of other models are skipped).
///
/// Roles: `superuser`, `staff` and `default` keys of `role_map` (default
/// Administrator, User Manager, User). Organizations: a group (its id, or its
/// name when dumped with `--natural-foreign`) found in `org_map`, else the
/// `default` key of `org_map`, else `Main`.
pub fn django(bytes: &[u8], role_map: &NameMap, org_map: &NameMap) -> Result<Vec<ImportUser>, DomainError> {
    let objects: Vec<DjangoObject> = from_json("file", bytes)?;
    let mut errors = Vec::new();
    let mut users = Vec::new();
    for (i, o) in objects.into_iter().enumerate() {
        let place = format!("[{i}]");
        // auth.user, or a custom user model (`dumpdata accounts.User`): anything with a password
        if !o.model.eq_ignore_ascii_case("auth.user") && o.fields.password.is_none() {
            continue;
        }
        let f = o.fields;
        if f.username.trim().is_empty() {
            errors.push(at(&format!("{place}.fields.username"), "is missing"));
            continue;
        }
        let role_key = if f.is_superuser {
            "superuser"
        } else if f.is_staff {
            "staff"
        } else {
            "default"
        };
        let role = role_map.get(role_key).map_or_else(
            || match role_key {
                "superuser" => "Administrator".to_owned(),
                "staff" => "User Manager".to_owned(),
                _ => "User".to_owned(),
            },
            str::to_owned,
        );
        let mut orgs: Vec<String> = f
            .groups
            .iter()
            .filter_map(group_key)
            .filter_map(|g| org_map.get(&g).map(str::to_owned))
            .collect();
        if orgs.is_empty() {
            orgs.push(org_map.get("default").unwrap_or("Main").to_owned());
        }
        // `!…` is Django's unusable password (set_unusable_password)
        let password = f.password.as_deref().unwrap_or("").trim();
        let password_hash = (!password.is_empty() && !password.starts_with('!')).then(|| password.to_owned());
        users.push(ImportUser {
            first_name: name_or(&f.first_name, &f.username),
            last_name: name_or(&f.last_name, &f.username),
            username: f.username,
            email: f.email,
            enabled: f.is_active,
            organizations: dedup(orgs),
            roles: vec![role],
            created_at: f
                .date_joined
                .as_deref()
                .and_then(|t| django_time(&format!("{place}.fields.date_joined"), t, &mut errors)),
            last_login_at: f
                .last_login
                .as_deref()
                .and_then(|t| django_time(&format!("{place}.fields.last_login"), t, &mut errors)),
            password_hash,
        });
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        Err(refuse(errors))
    }
}

// ---------------------------------------------------------------- Keycloak

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Realm {
    #[serde(default)]
    users: Vec<KcUser>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KcUser {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    enabled: bool,
    created_timestamp: Option<i64>,
    #[serde(default)]
    credentials: Vec<KcCredential>,
    #[serde(default)]
    realm_roles: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KcCredential {
    #[serde(rename = "type", default)]
    kind: String,
    /// Keycloak 12+: JSON in a string.
    secret_data: Option<String>,
    credential_data: Option<String>,
    // before Keycloak 12, the same fields directly on the credential
    hashed_salted_value: Option<String>,
    value: Option<String>,
    salt: Option<String>,
    hash_iterations: Option<u32>,
    algorithm: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SecretData {
    #[serde(default)]
    value: String,
    #[serde(default)]
    salt: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CredentialData {
    hash_iterations: Option<u32>,
    #[serde(default)]
    algorithm: String,
    #[serde(default)]
    additional_parameters: HashMap<String, Vec<String>>,
}

/// The stored hash of a Keycloak password credential, in a form muster reads.
fn keycloak_hash(place: &str, c: &KcCredential) -> Result<String, FieldError> {
    let (secret, data) = match (&c.secret_data, &c.credential_data) {
        (Some(s), Some(d)) => (
            from_json::<SecretData>(&format!("{place}.secretData"), s.as_bytes())
                .map_err(|e| at(&format!("{place}.secretData"), e))?,
            from_json::<CredentialData>(&format!("{place}.credentialData"), d.as_bytes())
                .map_err(|e| at(&format!("{place}.credentialData"), e))?,
        ),
        _ => (
            SecretData {
                value: c
                    .hashed_salted_value
                    .clone()
                    .or_else(|| c.value.clone())
                    .unwrap_or_default(),
                salt: c.salt.clone().unwrap_or_default(),
            },
            CredentialData {
                hash_iterations: c.hash_iterations,
                algorithm: c.algorithm.clone().unwrap_or_default(),
                additional_parameters: HashMap::new(),
            },
        ),
    };
    let b64 =
        |what: &str, s: &str| decode_b64(s).ok_or_else(|| at(&format!("{place}.secretData.{what}"), "is not base64"));
    let iterations = || {
        data.hash_iterations
            .ok_or_else(|| at(&format!("{place}.credentialData.hashIterations"), "is missing"))
    };
    let prf = match data.algorithm.as_str() {
        "pbkdf2-sha256" => Some(Prf::HmacSha256),
        "pbkdf2-sha512" => Some(Prf::HmacSha512),
        "pbkdf2" => Some(Prf::HmacSha1),
        _ => None,
    };
    if let Some(prf) = prf {
        return Ok(pbkdf2_phc(
            prf,
            iterations()?,
            &b64("salt", &secret.salt)?,
            &b64("value", &secret.value)?,
        ));
    }
    match data.algorithm.as_str() {
        "argon2" => {
            let p = |k: &str, default: &str| -> String {
                data.additional_parameters
                    .get(k)
                    .and_then(|v| v.first())
                    .cloned()
                    .unwrap_or_else(|| default.to_owned())
            };
            let num = |k: &str, default: &str| -> Result<u32, FieldError> {
                p(k, default).parse().map_err(|_| {
                    at(
                        &format!("{place}.credentialData.additionalParameters.{k}"),
                        "is not a whole number",
                    )
                })
            };
            let variant = match p("type", "id").as_str() {
                t @ ("id" | "i" | "d") => t.to_owned(),
                other => {
                    return Err(at(
                        &format!("{place}.credentialData.additionalParameters.type"),
                        format!("unknown Argon2 type {other:?}"),
                    ));
                }
            };
            let version = if p("version", "1.3") == "1.0" { 16 } else { 19 };
            Ok(argon2_phc_of(
                &variant,
                version,
                num("memory", "7168")?,
                iterations()?,
                num("parallelism", "1")?,
                &b64("salt", &secret.salt)?,
                &b64("value", &secret.value)?,
            ))
        }
        // community bcrypt providers keep the whole bcrypt string as the value
        "bcrypt" if secret.value.starts_with("$2") => Ok(secret.value),
        other => Err(at(
            &format!("{place}.credentialData.algorithm"),
            format!(
                "the Keycloak hash algorithm {other:?} is not supported (pbkdf2-sha256, pbkdf2-sha512, pbkdf2, argon2, bcrypt are)"
            ),
        )),
    }
}

/// Users of a Keycloak realm export (`kc.sh export`, or the admin console's partial export with users).
///
/// Roles: each realm role found in `role_map`; none → `default` of `role_map`, else User.
/// Organizations: each group (its path `/Sales/EMEA` or its name `EMEA`) found in
/// `org_map`, else a group whose name is an organization's (`org_names`); none →
/// `default` of `org_map`, else `Main`.
pub fn keycloak(
    bytes: &[u8],
    role_map: &NameMap,
    org_map: &NameMap,
    org_names: &[String],
) -> Result<Vec<ImportUser>, DomainError> {
    let realm: Realm = from_json("file", bytes)?;
    let mut errors = Vec::new();
    let mut users = Vec::new();
    for (i, u) in realm.users.into_iter().enumerate() {
        let place = format!("users[{i}]");
        if u.username.trim().is_empty() {
            errors.push(at(&format!("{place}.username"), "is missing"));
            continue;
        }
        let mut password_hash = None;
        for (j, c) in u.credentials.iter().enumerate() {
            if c.kind == "password" {
                match keycloak_hash(&format!("{place}.credentials[{j}]"), c) {
                    Ok(h) => password_hash = Some(h),
                    Err(e) => errors.push(e),
                }
            }
        }
        let mut roles: Vec<String> = u
            .realm_roles
            .iter()
            .filter_map(|r| role_map.get(r).map(str::to_owned))
            .collect();
        if roles.is_empty() {
            roles.push(role_map.get("default").unwrap_or("User").to_owned());
        }
        let mut orgs = Vec::new();
        for g in &u.groups {
            let name = g.rsplit('/').next().unwrap_or(g);
            if let Some(o) = org_map.get(g).or_else(|| org_map.get(name)) {
                orgs.push(o.to_owned());
            } else if let Some(o) = org_names.iter().find(|o| o.eq_ignore_ascii_case(name)) {
                orgs.push(o.clone());
            }
        }
        if orgs.is_empty() {
            orgs.push(org_map.get("default").unwrap_or("Main").to_owned());
        }
        users.push(ImportUser {
            first_name: name_or(&u.first_name, &u.username),
            last_name: name_or(&u.last_name, &u.username),
            username: u.username,
            email: u.email,
            enabled: u.enabled,
            organizations: dedup(orgs),
            roles: dedup(roles),
            created_at: u.created_timestamp,
            last_login_at: None,
            password_hash,
        });
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        Err(refuse(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_maps() {
        let m = NameMap::parse("--role-map", &["admin=Administrator, staff=User Manager".into()]).unwrap();
        assert_eq!(m.get("ADMIN"), Some("Administrator"));
        assert!(m.check_roles().is_ok());
        assert!(NameMap::parse("--role-map", &["nonsense".into()]).is_err());
        let bad = NameMap::parse("--role-map", &["x=Root".into()]).unwrap();
        assert!(bad.check_roles().is_err());
    }

    #[test]
    fn django_dump() {
        let json = br#"[
          {"model": "auth.user", "pk": 1, "fields": {"password": "pbkdf2_sha256$870000$abc$aGFzaA==",
            "last_login": "2024-05-06T07:08:09.123Z", "is_superuser": true, "username": "root",
            "first_name": "", "last_name": "", "email": "root@example.com", "is_staff": true,
            "is_active": true, "date_joined": "2020-01-02T03:04:05", "groups": [3], "user_permissions": []}},
          {"model": "auth.group", "pk": 3, "fields": {"name": "Sales"}},
          {"model": "auth.user", "pk": 2, "fields": {"password": "!unusable", "username": "ann",
            "first_name": "Ann", "last_name": "Lee", "email": "ann@example.com", "is_active": false,
            "groups": [["Sales"]], "date_joined": "2021-01-01T00:00:00Z", "last_login": null}}
        ]"#;
        let orgs = NameMap::parse("--org-map", &["3=Acme".into(), "Sales=Acme Sales".into()]).unwrap();
        let users = django(json, &NameMap::default(), &orgs).unwrap();
        assert_eq!(users.len(), 2);
        let root = &users[0];
        assert_eq!(root.roles, ["Administrator"]);
        assert_eq!(root.organizations, ["Acme"]);
        assert_eq!((root.first_name.as_str(), root.last_name.as_str()), ("root", "root"));
        assert_eq!(root.created_at, Some(1_577_934_245_000));
        assert_eq!(root.last_login_at, Some(1_714_979_289_123));
        assert!(root.password_hash.is_some());
        let ann = &users[1];
        assert!(!ann.enabled && ann.password_hash.is_none());
        assert_eq!(ann.organizations, ["Acme Sales"]);
        assert_eq!(ann.roles, ["User"]);

        let e = django(
            br#"[{"model": "auth.user", "fields": {"username": "x", "is_active": "yes"}}]"#,
            &NameMap::default(),
            &NameMap::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("[0].fields.is_active"), "{e}");
        let e = django(b"{not json", &NameMap::default(), &NameMap::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn keycloak_credentials() {
        let json = br#"{"realm": "acme", "users": [
          {"username": "kc1", "email": "kc1@example.com", "firstName": "K", "lastName": "One", "enabled": true,
           "createdTimestamp": 1600000000000, "realmRoles": ["default-roles-acme", "admin"], "groups": ["/Sales/EMEA"],
           "credentials": [{"type": "password", "createdDate": 1600000000000,
             "secretData": "{\"value\":\"aGFzaGhhc2hoYXNoaGFzaA==\",\"salt\":\"c2FsdHNhbHQ=\",\"additionalParameters\":{}}",
             "credentialData": "{\"hashIterations\":27500,\"algorithm\":\"pbkdf2-sha256\",\"additionalParameters\":{}}"}]},
          {"username": "kc2", "email": "kc2@example.com", "enabled": false,
           "credentials": [{"type": "otp", "secretData": "{}", "credentialData": "{}"},
             {"type": "password",
             "secretData": "{\"value\":\"aGFzaGhhc2hoYXNoaGFzaA==\",\"salt\":\"c2FsdHNhbHQ=\"}",
             "credentialData": "{\"hashIterations\":5,\"algorithm\":\"argon2\",\"additionalParameters\":{\"hashLength\":[\"16\"],\"memory\":[\"7168\"],\"type\":[\"id\"],\"version\":[\"1.3\"],\"parallelism\":[\"1\"]}}"}]}
        ]}"#;
        let roles = NameMap::parse("--role-map", &["admin=Administrator".into()]).unwrap();
        let users = keycloak(json, &roles, &NameMap::default(), &["emea".into()]).unwrap();
        assert_eq!(users[0].roles, ["Administrator"]);
        assert_eq!(users[0].organizations, ["emea"]);
        assert_eq!(
            users[0].password_hash.as_deref(),
            Some("$pbkdf2-sha256$i=27500$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
        );
        assert_eq!(users[0].created_at, Some(1_600_000_000_000));
        assert_eq!(
            users[1].password_hash.as_deref(),
            Some("$argon2id$v=19$m=7168,t=5,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
        );
        assert_eq!(users[1].organizations, ["Main"]);
        assert_eq!(users[1].roles, ["User"]);
        assert_eq!(
            (users[1].first_name.as_str(), users[1].last_name.as_str()),
            ("kc2", "kc2")
        );

        let broken = br#"{"users": [{"username": "x", "credentials": [{"type": "password",
            "secretData": "{\"value\": 12", "credentialData": "{}"}]}]}"#;
        let e = keycloak(broken, &NameMap::default(), &NameMap::default(), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("users[0].credentials[0].secretData"), "{e}");
        let unknown = br#"{"users": [{"username": "x", "credentials": [{"type": "password",
            "secretData": "{\"value\":\"aGFzaA==\",\"salt\":\"\"}", "credentialData": "{\"algorithm\":\"md5\"}"}]}]}"#;
        let e = keycloak(unknown, &NameMap::default(), &NameMap::default(), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"md5\" is not supported"), "{e}");
    }

    #[test]
    fn csv_round_trip_through_the_parser() {
        let users = vec![ImportUser {
            username: "-dash".into(),
            email: "d@example.com".into(),
            first_name: "=F".into(),
            last_name: "L".into(),
            enabled: true,
            organizations: vec!["Main".into()],
            roles: vec!["User".into()],
            created_at: Some(0),
            last_login_at: None,
            password_hash: Some("$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".into()),
        }];
        let bytes = to_csv(&users).unwrap();
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes.as_slice());
        let mut recs = r.records();
        let header = crate::user_csv::import::Header::parse(&recs.next().unwrap().unwrap()).unwrap();
        let row = crate::user_csv::import::parse_row(&header, &recs.next().unwrap().unwrap()).unwrap();
        assert_eq!(row.username.as_str(), "-dash");
        assert_eq!(row.cells.first_name.unwrap().as_str(), "=F");
        assert!(row.cells.password_hash.is_some());
    }
}

//! Reading the users CSV: the header, then each row parsed into domain types
//! with every problem of the row named by its column. Nothing here touches
//! the database; `services::imports` applies the parsed rows.
//!
//! An empty cell means "not given": an existing user keeps that field, a new
//! user gets the default (`enabled` true, `auth_status` active). A new user
//! needs `email`, `first_name`, `last_name`, `organizations` and `roles`.
//! `id` and `updated_at` are read and ignored: users are matched by username.

use muster_domain::{AuthStatus, EmailAddress, Error as DomainError, FieldError, Millis, PersonName, Role, Username};

use super::Column;
use super::columns::unguard;
use crate::clock;

/// The columns of a file, by position. `None` is a column of an Oro export that muster
/// does not read (see `user_csv::oro`).
#[derive(Debug, Clone)]
pub struct Header {
    columns: Vec<Option<Column>>,
    ignored: Vec<String>,
}

impl Header {
    /// Refuse a header with an unknown or repeated column, or without `username`.
    /// Oro's export headers are read as muster's keys; in a file that uses them,
    /// unknown columns are left out (and named by [`Header::ignored`]) instead.
    pub fn parse(record: &csv::StringRecord) -> Result<Header, DomainError> {
        let mut columns: Vec<Option<Column>> = Vec::new();
        let mut errors = Vec::new();
        let mut unknown = Vec::new();
        let mut oro = false;
        for (i, raw) in record.iter().enumerate() {
            // a BOM from spreadsheet programs before the first key
            let key = if i == 0 {
                raw.trim_start_matches('\u{feff}')
            } else {
                raw
            };
            let column = Column::parse(key).or_else(|| {
                let c = super::oro::alias(key);
                oro |= c.is_some();
                c
            });
            match column {
                Some(c) if columns.contains(&Some(c)) => {
                    errors.push(FieldError::new("header", format!("column {:?} appears twice", c.key())));
                }
                Some(c) => columns.push(Some(c)),
                None => {
                    unknown.push(key.trim().to_owned());
                    columns.push(None);
                }
            }
        }
        if !oro {
            for key in &unknown {
                errors.push(FieldError::new(
                    "header",
                    format!(
                        "unknown column {key:?}; the columns are {}",
                        Column::ALL.iter().map(|c| c.key()).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        if errors.is_empty() && !columns.contains(&Some(Column::Username)) {
            errors.push(FieldError::new("header", "the username column is required"));
        }
        if errors.is_empty() {
            Ok(Header {
                columns,
                ignored: unknown,
            })
        } else {
            Err(DomainError::Invalid(errors))
        }
    }

    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    pub fn has(&self, c: Column) -> bool {
        self.columns.contains(&Some(c))
    }

    pub fn position(&self, c: Column) -> Option<usize> {
        self.columns.iter().position(|x| *x == Some(c))
    }

    /// The columns of an Oro export that were left out.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }
}

/// One row, every given cell parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub username: Username,
    pub cells: Cells,
}

/// The cells besides the username. `None` is an empty or absent cell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cells {
    pub email: Option<EmailAddress>,
    pub first_name: Option<PersonName>,
    pub last_name: Option<PersonName>,
    pub enabled: Option<bool>,
    pub auth_status: Option<AuthStatus>,
    /// Organization names as written; resolved against the database later.
    pub organizations: Option<Vec<String>>,
    pub roles: Option<Vec<Role>>,
    pub created_at: Option<Millis>,
    pub last_login_at: Option<Millis>,
    pub login_count: Option<i64>,
    /// A hash that parsed (`muster_domain::password_hash`): Argon2, or a foreign scheme kept
    /// until the user's first sign-in.
    pub password_hash: Option<String>,
    /// A hash of a weak scheme (MD5, SHA-1, bcrypt under cost 10, …): why it is weak.
    /// It is never stored; the import refuses the row, or with `allow_weak_hashes`
    /// puts the user in password reset.
    pub weak_password_hash: Option<String>,
}

pub(crate) fn split_list(cell: &str) -> Vec<String> {
    cell.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_bool(cell: &str) -> Option<bool> {
    match cell.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "enabled" => Some(true),
        "false" | "0" | "no" | "disabled" => Some(false),
        _ => None,
    }
}

/// The message of a domain parse error, named by `column` instead of the domain's field name.
fn message(e: DomainError) -> String {
    match e {
        DomainError::Invalid(f) => f.into_iter().map(|f| f.message).collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    }
}

/// Parse one record. The errors name the column (its CSV key) and the reason.
pub fn parse_row(header: &Header, record: &csv::StringRecord) -> Result<Row, Vec<FieldError>> {
    if record.len() != header.len() {
        return Err(vec![FieldError::new(
            "row",
            format!("has {} cells but the header has {} columns", record.len(), header.len()),
        )]);
    }
    let mut errors = Vec::new();
    let mut username = None;
    let mut row = Cells::default();
    for (column, raw) in header.columns.iter().zip(record.iter()) {
        let Some(column) = column else {
            continue;
        };
        let cell = unguard(raw).trim();
        let key = column.key();
        let mut bad = |reason: String| errors.push(FieldError::new(key, reason));
        if cell.is_empty() {
            if *column == Column::Username {
                bad("is required".to_owned());
            }
            continue;
        }
        match column {
            Column::Id | Column::UpdatedAt => {}
            Column::Username => match Username::parse(cell) {
                Ok(u) => username = Some(u),
                Err(e) => bad(message(e)),
            },
            Column::Email => match EmailAddress::parse(cell) {
                Ok(v) => row.email = Some(v),
                Err(e) => bad(message(e)),
            },
            Column::FirstName | Column::LastName => match PersonName::parse(key, cell) {
                Ok(v) if *column == Column::FirstName => row.first_name = Some(v),
                Ok(v) => row.last_name = Some(v),
                Err(e) => bad(message(e)),
            },
            Column::Enabled => match parse_bool(cell) {
                Some(b) => row.enabled = Some(b),
                None => bad(format!("must be true or false (got {cell:?})")),
            },
            Column::AuthStatus => match AuthStatus::parse(super::oro::status(cell)) {
                Ok(s) => row.auth_status = Some(s),
                Err(e) => bad(message(e)),
            },
            Column::Organizations => row.organizations = Some(split_list(cell)),
            Column::Roles => {
                let mut roles = Vec::new();
                for name in split_list(cell) {
                    match Role::parse(&name) {
                        Ok(r) => roles.push(r),
                        Err(e) => bad(message(e)),
                    }
                }
                row.roles = Some(roles);
            }
            Column::CreatedAt | Column::LastLoginAt => match clock::parse_date(cell, false) {
                Some(t) if *column == Column::CreatedAt => row.created_at = Some(t),
                Some(t) => row.last_login_at = Some(t),
                None => bad(format!(
                    "must be a time in RFC 3339 form, like 2026-11-28T13:45:00Z (got {cell:?})"
                )),
            },
            Column::LoginCount => match cell.parse::<i64>() {
                Ok(n) if n >= 0 => row.login_count = Some(n),
                _ => bad(format!("must be a whole number, 0 or more (got {cell:?})")),
            },
            Column::PasswordHash => match muster_domain::password_hash::parse(cell) {
                Ok(h) => match h.weak_reason() {
                    Some(weak) => row.weak_password_hash = Some(weak.to_owned()),
                    None => row.password_hash = Some(h.stored),
                },
                Err(e) => bad(message(e)),
            },
        }
    }
    match username {
        Some(username) if errors.is_empty() => Ok(Row { username, cells: row }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(cells: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(cells.to_vec())
    }

    fn header(keys: &[&str]) -> Header {
        Header::parse(&rec(keys)).unwrap()
    }

    #[test]
    fn header_problems_are_named() {
        let e = Header::parse(&rec(&["username", "password"])).unwrap_err().to_string();
        assert!(e.contains("unknown column \"password\""), "{e}");
        let e = Header::parse(&rec(&["username", "email", "email"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("appears twice"), "{e}");
        let e = Header::parse(&rec(&["email"])).unwrap_err().to_string();
        assert!(e.contains("username column is required"), "{e}");
        assert!(Header::parse(&rec(&["\u{feff}username"])).is_ok());
    }

    #[test]
    fn an_oro_export_header_is_read() {
        let h = header(&[
            "Id",
            "Username",
            "Primary Email",
            "Name Prefix",
            "First Name",
            "Last Name",
            "Enabled",
            "Status",
            "Roles",
            "Organizations",
            "Birthday",
        ]);
        assert_eq!(h.ignored(), ["Name Prefix", "Birthday"]);
        let r = parse_row(
            &h,
            &rec(&[
                "12",
                "jdoe",
                "jdoe@example.com",
                "Dr.",
                "John",
                "Doe",
                "Yes",
                "Locked",
                "User Manager",
                "Main",
                "1970-01-01",
            ]),
        )
        .unwrap();
        assert_eq!(r.username.as_str(), "jdoe");
        assert_eq!(r.cells.email.unwrap().as_str(), "jdoe@example.com");
        assert_eq!(r.cells.auth_status, Some(AuthStatus::Locked));
        assert_eq!(r.cells.enabled, Some(true));
        assert_eq!(r.cells.roles.unwrap(), vec![Role::UserManager]);
        // a muster file still refuses an unknown column
        assert!(Header::parse(&rec(&["username", "Birthday"])).is_err());
    }

    #[test]
    fn a_full_row_parses() {
        let h = header(&[
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "enabled",
            "auth_status",
            "organizations",
            "roles",
            "created_at",
            "updated_at",
            "last_login_at",
            "login_count",
        ]);
        let r = parse_row(
            &h,
            &rec(&[
                "7",
                "'-dash",
                "d@example.com",
                "'=Eve",
                "Doe",
                "false",
                "locked",
                "Main, Other",
                "User Manager, User",
                "2026-01-02T03:04:05Z",
                "whatever",
                "",
                "12",
            ]),
        )
        .unwrap();
        assert_eq!(r.username.as_str(), "-dash");
        let r = r.cells;
        assert_eq!(r.first_name.unwrap().as_str(), "=Eve");
        assert_eq!(r.enabled, Some(false));
        assert_eq!(r.auth_status, Some(AuthStatus::Locked));
        assert_eq!(r.organizations.unwrap(), vec!["Main", "Other"]);
        assert_eq!(r.roles.unwrap(), vec![Role::UserManager, Role::User]);
        assert_eq!(r.created_at, Some(1_767_323_045_000));
        assert_eq!(r.last_login_at, None);
        assert_eq!(r.login_count, Some(12));
    }

    #[test]
    fn every_bad_cell_is_named() {
        let h = header(&[
            "username",
            "email",
            "first_name",
            "enabled",
            "auth_status",
            "roles",
            "created_at",
            "login_count",
            "password_hash",
        ]);
        let errs = parse_row(
            &h,
            &rec(&[
                "bad name!",
                "not-an-email",
                "a\u{7}b",
                "maybe",
                "sleeping",
                "Root",
                "yesterday",
                "-1",
                "$2y$10$abcdefghijklmnopqrstuv", // too short for bcrypt
            ]),
        )
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "username",
                "email",
                "first_name",
                "enabled",
                "auth_status",
                "roles",
                "created_at",
                "login_count",
                "password_hash"
            ]
        );
        let short = parse_row(&h, &rec(&["a", "b"])).unwrap_err();
        assert_eq!(short[0].field, "row");
        let empty = parse_row(&h, &rec(&["", "", "", "", "", "", "", "", ""])).unwrap_err();
        assert_eq!(empty[0].field, "username");
    }
}

//! The user list's filters and sort, as data. The grid and the API both parse
//! into these; the store turns them into SQL in exactly one function.

use crate::Millis;
use crate::error::Error;
use crate::status::AuthStatus;

/// The built-in saved views of the users grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    All,
    #[default]
    Active,
    Disabled,
    CannotLogin,
}

impl View {
    pub const ALL: [View; 4] = [View::All, View::Active, View::Disabled, View::CannotLogin];

    pub fn as_str(self) -> &'static str {
        match self {
            View::All => "all",
            View::Active => "active",
            View::Disabled => "disabled",
            View::CannotLogin => "cannot_login",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            View::All => "All users",
            View::Active => "Active users",
            View::Disabled => "Disabled users",
            View::CannotLogin => "Cannot log in",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw {
            "all" => Ok(View::All),
            "active" => Ok(View::Active),
            "disabled" => Ok(View::Disabled),
            "cannot_login" => Ok(View::CannotLogin),
            other => Err(Error::invalid(
                "filter[view]",
                format!("unknown view {other:?}: expected all, active, disabled or cannot_login"),
            )),
        }
    }
}

/// Every way to narrow the list of users. Empty fields do not narrow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub view: Option<View>,
    pub enabled: Option<bool>,
    pub auth_statuses: Vec<AuthStatus>,
    /// Exact, any case.
    pub username: Option<String>,
    /// Exact, any case.
    pub email: Option<String>,
    /// Contains, in first name, last name, username and email.
    pub search: Option<String>,
    pub first_name_contains: Option<String>,
    pub last_name_contains: Option<String>,
    pub username_contains: Option<String>,
    pub email_contains: Option<String>,
    pub role: Option<String>,
    pub organization_id: Option<i64>,
    pub created_from: Option<Millis>,
    pub created_to: Option<Millis>,
    pub updated_from: Option<Millis>,
    pub updated_to: Option<Millis>,
    /// With (true) or without (false) a confirmed second factor.
    pub second_factor: Option<bool>,
    /// Users left out of a selection ("all matching, except these").
    pub exclude_ids: Vec<i64>,
    /// Only these users (a selection of rows).
    pub only_ids: Option<Vec<i64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Id,
    FirstName,
    LastName,
    Email,
    Username,
    Enabled,
    AuthStatus,
    Organizations,
    Roles,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
}

impl SortField {
    pub const ALL: [SortField; 12] = [
        SortField::Id,
        SortField::FirstName,
        SortField::LastName,
        SortField::Email,
        SortField::Username,
        SortField::Enabled,
        SortField::AuthStatus,
        SortField::Organizations,
        SortField::Roles,
        SortField::CreatedAt,
        SortField::UpdatedAt,
        SortField::LastLoginAt,
    ];

    /// The API's camelCase name.
    pub fn api_name(self) -> &'static str {
        match self {
            SortField::Id => "id",
            SortField::FirstName => "firstName",
            SortField::LastName => "lastName",
            SortField::Email => "email",
            SortField::Username => "username",
            SortField::Enabled => "enabled",
            SortField::AuthStatus => "authStatus",
            SortField::Organizations => "organizations",
            SortField::Roles => "roles",
            SortField::CreatedAt => "createdAt",
            SortField::UpdatedAt => "updatedAt",
            SortField::LastLoginAt => "lastLoginAt",
        }
    }

    /// Accepts the camelCase and the snake_case spelling.
    pub fn parse(raw: &str) -> Option<Self> {
        let squashed: String = raw.chars().filter(|c| *c != '_').collect::<String>().to_lowercase();
        SortField::ALL
            .into_iter()
            .find(|f| f.api_name().to_lowercase() == squashed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDir {
    Asc,
    Desc,
}

/// An ordered list of sort keys; the id is always the last tie-breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSort(pub Vec<(SortField, SortDir)>);

impl Default for UserSort {
    fn default() -> Self {
        UserSort(vec![(SortField::Id, SortDir::Asc)])
    }
}

impl UserSort {
    /// `lastName,-createdAt`: a leading `-` sorts descending. Unknown fields are named.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let mut keys = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, dir) = match part.strip_prefix('-') {
                Some(n) => (n, SortDir::Desc),
                None => (part.strip_prefix('+').unwrap_or(part), SortDir::Asc),
            };
            let field =
                SortField::parse(name).ok_or_else(|| Error::invalid("sort", format!("unknown sort field {name:?}")))?;
            if keys.iter().any(|(f, _)| *f == field) {
                return Err(Error::invalid("sort", format!("field {name:?} is sorted twice")));
            }
            keys.push((field, dir));
        }
        if keys.is_empty() {
            return Ok(UserSort::default());
        }
        Ok(UserSort(keys))
    }

    pub fn to_param(&self) -> String {
        self.0
            .iter()
            .map(|(f, d)| match d {
                SortDir::Asc => f.api_name().to_owned(),
                SortDir::Desc => format!("-{}", f.api_name()),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_parses_both_spellings_and_names_unknown_fields() {
        let s = UserSort::parse("lastName,-created_at").unwrap();
        assert_eq!(
            s.0,
            vec![
                (SortField::LastName, SortDir::Asc),
                (SortField::CreatedAt, SortDir::Desc)
            ]
        );
        assert_eq!(s.to_param(), "lastName,-createdAt");
        match UserSort::parse("password") {
            Err(Error::Invalid(f)) => assert!(f[0].message.contains("password")),
            other => panic!("{other:?}"),
        }
        assert!(UserSort::parse("email,-email").is_err());
        assert_eq!(UserSort::parse("").unwrap(), UserSort::default());
    }

    #[test]
    fn views() {
        for v in View::ALL {
            assert_eq!(View::parse(v.as_str()).unwrap(), v);
        }
        assert_eq!(View::default(), View::Active);
        assert!(View::parse("locked").is_err());
    }
}

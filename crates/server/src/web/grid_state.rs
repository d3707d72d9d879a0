//! The whole state of the users grid, read from and written to the URL's
//! query string, so a grid can be bookmarked, shared and saved as a view.

use muster_domain::{AuthStatus, Role, SortDir, SortField, UserFilter, UserSort, View};

use crate::clock;

/// A column of the grid: its URL key, its header and the field it sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub key: &'static str,
    pub label: &'static str,
    pub sort: SortField,
}

pub const COLUMNS: [Column; 11] = [
    Column {
        key: "first_name",
        label: "First name",
        sort: SortField::FirstName,
    },
    Column {
        key: "last_name",
        label: "Last name",
        sort: SortField::LastName,
    },
    Column {
        key: "email",
        label: "Email",
        sort: SortField::Email,
    },
    Column {
        key: "username",
        label: "Username",
        sort: SortField::Username,
    },
    Column {
        key: "enabled",
        label: "Enabled",
        sort: SortField::Enabled,
    },
    Column {
        key: "status",
        label: "Status",
        sort: SortField::AuthStatus,
    },
    Column {
        key: "organizations",
        label: "Organizations",
        sort: SortField::Organizations,
    },
    Column {
        key: "roles",
        label: "Roles",
        sort: SortField::Roles,
    },
    Column {
        key: "created_at",
        label: "Created at",
        sort: SortField::CreatedAt,
    },
    Column {
        key: "updated_at",
        label: "Updated at",
        sort: SortField::UpdatedAt,
    },
    Column {
        key: "last_login",
        label: "Last login",
        sort: SortField::LastLoginAt,
    },
];

/// Shown when the URL names no columns.
const DEFAULT_COLUMNS: [&str; 9] = [
    "first_name",
    "last_name",
    "email",
    "username",
    "enabled",
    "status",
    "organizations",
    "roles",
    "created_at",
];

pub const PAGE_SIZES: [i64; 4] = [10, 25, 50, 100];
const DEFAULT_PAGE_SIZE: i64 = 25;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridState {
    pub view: View,
    /// The admin's own saved view this state came from, to highlight its tab.
    pub saved: Option<i64>,
    pub search: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub username: String,
    pub enabled: Option<bool>,
    pub statuses: Vec<AuthStatus>,
    pub role: Option<Role>,
    pub org: Option<i64>,
    pub created_from: String,
    pub created_to: String,
    pub updated_from: String,
    pub updated_to: String,
    pub sort: UserSort,
    pub columns: Vec<&'static str>,
    pub page: i64,
    pub size: i64,
    /// Parts of the URL that could not be understood; they were ignored.
    pub problems: Vec<String>,
}

impl Default for GridState {
    fn default() -> Self {
        GridState {
            view: View::default(),
            saved: None,
            search: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
            username: String::new(),
            enabled: None,
            statuses: Vec::new(),
            role: None,
            org: None,
            created_from: String::new(),
            created_to: String::new(),
            updated_from: String::new(),
            updated_to: String::new(),
            sort: UserSort::default(),
            columns: DEFAULT_COLUMNS.to_vec(),
            page: 1,
            size: DEFAULT_PAGE_SIZE,
            problems: Vec::new(),
        }
    }
}

fn text(v: &str) -> String {
    v.trim().chars().take(200).collect()
}

fn date(problems: &mut Vec<String>, label: &str, v: &str) -> String {
    let v = v.trim();
    if !v.is_empty() && clock::parse_date(v, false).is_none() {
        problems.push(format!("{label}: {v:?} is not a date (YYYY-MM-DD); ignored"));
        return String::new();
    }
    v.chars().take(40).collect()
}

impl GridState {
    /// Read the state from query pairs. Nothing here fails: what cannot be
    /// understood is ignored and named in `problems`.
    pub fn from_pairs(pairs: &[(String, String)]) -> GridState {
        let mut s = GridState::default();
        let mut columns = Vec::new();
        let mut p = Vec::new();
        for (k, v) in pairs {
            match k.as_str() {
                "view" if !v.is_empty() => match View::parse(v) {
                    Ok(view) => s.view = view,
                    Err(_) => p.push(format!("unknown view {v:?}; showing active users")),
                },
                "saved" => s.saved = v.parse().ok(),
                "q" => s.search = text(v),
                "first_name" => s.first_name = text(v),
                "last_name" => s.last_name = text(v),
                "email" => s.email = text(v),
                "username" => s.username = text(v),
                "enabled" => {
                    s.enabled = match v.as_str() {
                        "yes" | "true" | "1" => Some(true),
                        "no" | "false" | "0" => Some(false),
                        _ => None,
                    }
                }
                "status" if !v.is_empty() => match AuthStatus::parse(v) {
                    Ok(st) if !s.statuses.contains(&st) => s.statuses.push(st),
                    Ok(_) => {}
                    Err(_) => p.push(format!("unknown status {v:?}; ignored")),
                },
                "role" if !v.is_empty() => match Role::parse(v) {
                    Ok(r) => s.role = Some(r),
                    Err(_) => p.push(format!("unknown role {v:?}; ignored")),
                },
                "org" => s.org = v.parse().ok(),
                "created_from" => s.created_from = date(&mut p, "Created from", v),
                "created_to" => s.created_to = date(&mut p, "Created to", v),
                "updated_from" => s.updated_from = date(&mut p, "Updated from", v),
                "updated_to" => s.updated_to = date(&mut p, "Updated to", v),
                "sort" if !v.is_empty() => match UserSort::parse(v) {
                    Ok(sort) => s.sort = sort,
                    Err(e) => p.push(format!("{e}; ignored")),
                },
                "col" => {
                    if let Some(c) = COLUMNS.iter().find(|c| c.key == v)
                        && !columns.contains(&c.key)
                    {
                        columns.push(c.key);
                    }
                }
                "page" => s.page = v.parse::<i64>().unwrap_or(1).max(1),
                "size" => {
                    let n = v.parse::<i64>().unwrap_or(DEFAULT_PAGE_SIZE);
                    s.size = if PAGE_SIZES.contains(&n) { n } else { DEFAULT_PAGE_SIZE };
                }
                _ => {}
            }
        }
        if !columns.is_empty() {
            // keep the grid's column order whatever order the URL gives
            s.columns = COLUMNS.iter().map(|c| c.key).filter(|k| columns.contains(k)).collect();
        }
        s.problems = p;
        s
    }

    pub fn from_query(q: &str) -> GridState {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).unwrap_or_default();
        GridState::from_pairs(&pairs)
    }

    /// The state as query pairs, in a fixed order; `with_page` adds page and `saved`.
    pub fn pairs(&self, with_page: bool) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = vec![("view", self.view.as_str().to_owned())];
        let texts = [
            ("q", &self.search),
            ("first_name", &self.first_name),
            ("last_name", &self.last_name),
            ("email", &self.email),
            ("username", &self.username),
        ];
        for (k, v) in texts {
            if !v.is_empty() {
                out.push((k, v.clone()));
            }
        }
        if let Some(e) = self.enabled {
            out.push(("enabled", if e { "yes" } else { "no" }.to_owned()));
        }
        for st in &self.statuses {
            out.push(("status", st.as_str().to_owned()));
        }
        if let Some(r) = self.role {
            out.push(("role", r.name().to_owned()));
        }
        if let Some(o) = self.org {
            out.push(("org", o.to_string()));
        }
        let dates = [
            ("created_from", &self.created_from),
            ("created_to", &self.created_to),
            ("updated_from", &self.updated_from),
            ("updated_to", &self.updated_to),
        ];
        for (k, v) in dates {
            if !v.is_empty() {
                out.push((k, v.clone()));
            }
        }
        if self.sort != UserSort::default() {
            out.push(("sort", self.sort.to_param()));
        }
        if self.columns != DEFAULT_COLUMNS {
            for c in &self.columns {
                out.push(("col", (*c).to_owned()));
            }
        }
        if self.size != DEFAULT_PAGE_SIZE {
            out.push(("size", self.size.to_string()));
        }
        if with_page {
            if let Some(id) = self.saved {
                out.push(("saved", id.to_string()));
            }
            if self.page > 1 {
                out.push(("page", self.page.to_string()));
            }
        }
        out
    }

    /// The canonical query string of filters, sort, columns and page size
    /// (what a saved view stores).
    pub fn query(&self) -> String {
        serde_urlencoded::to_string(self.pairs(false)).unwrap_or_default()
    }

    /// The URL of this state, with page and saved view.
    pub fn href(&self) -> String {
        format!(
            "/admin/users?{}",
            serde_urlencoded::to_string(self.pairs(true)).unwrap_or_default()
        )
    }

    pub fn with_page(&self, page: i64) -> GridState {
        GridState { page, ..self.clone() }
    }

    /// Sort by one column: ascending first, descending when it already sorts ascending.
    pub fn sorted_by(&self, field: SortField) -> GridState {
        let dir = match self.sort.0.first() {
            Some((f, SortDir::Asc)) if *f == field => SortDir::Desc,
            _ => SortDir::Asc,
        };
        GridState {
            sort: UserSort(vec![(field, dir)]),
            page: 1,
            ..self.clone()
        }
    }

    pub fn shows(&self, key: &str) -> bool {
        self.columns.contains(&key)
    }

    pub fn filter(&self) -> UserFilter {
        let opt = |s: &String| Some(s.clone()).filter(|s| !s.is_empty());
        UserFilter {
            view: Some(self.view),
            enabled: self.enabled,
            auth_statuses: self.statuses.clone(),
            search: opt(&self.search),
            first_name_contains: opt(&self.first_name),
            last_name_contains: opt(&self.last_name),
            username_contains: opt(&self.username),
            email_contains: opt(&self.email),
            role: self.role.map(|r| r.name().to_owned()),
            organization_id: self.org,
            created_from: clock::parse_date(&self.created_from, false),
            created_to: clock::parse_date(&self.created_to, true),
            updated_from: clock::parse_date(&self.updated_from, false),
            updated_to: clock::parse_date(&self.updated_to, true),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        serde_urlencoded::from_str(q).unwrap()
    }

    #[test]
    fn round_trips_through_the_url() {
        let q = "view=all&q=jo&email=ex&enabled=no&status=locked&status=password_reset&role=User+Manager\
                 &org=2&created_from=2026-01-01&sort=-createdAt&col=username&col=email&size=50&page=3&saved=7";
        let s = GridState::from_pairs(&pairs(q));
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(s.view, View::All);
        assert_eq!(s.statuses, vec![AuthStatus::Locked, AuthStatus::PasswordReset]);
        assert_eq!(s.columns, vec!["email", "username"], "grid order, not URL order");
        assert_eq!((s.page, s.size, s.saved), (3, 50, Some(7)));
        let again = GridState::from_query(s.href().trim_start_matches("/admin/users?"));
        assert_eq!(again, s);
        let f = s.filter();
        assert_eq!(f.enabled, Some(false));
        assert_eq!(f.role.as_deref(), Some("User Manager"));
        assert_eq!(f.created_from, Some(1_767_225_600_000));
        assert!(!s.query().contains("page") && !s.query().contains("saved"));
    }

    #[test]
    fn nonsense_is_ignored_and_named() {
        let s = GridState::from_pairs(&pairs(
            "view=everyone&status=gone&sort=password&size=7&page=-2&created_to=yesterday&col=password_hash",
        ));
        assert_eq!(s.view, View::Active);
        assert_eq!((s.page, s.size), (1, 25));
        assert_eq!(s.columns, DEFAULT_COLUMNS.to_vec());
        assert_eq!(s.problems.len(), 4, "{:?}", s.problems);
        assert_eq!(s.filter().created_to, None);
    }

    #[test]
    fn sorting_a_column_toggles_its_direction() {
        let s = GridState::default().sorted_by(SortField::LastName);
        assert_eq!(s.sort.to_param(), "lastName");
        assert_eq!(s.sorted_by(SortField::LastName).sort.to_param(), "-lastName");
        assert_eq!(s.sorted_by(SortField::Email).sort.to_param(), "email");
    }
}

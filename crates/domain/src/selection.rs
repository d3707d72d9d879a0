//! "Which users": one type for every surface that selects users (the grid,
//! its "Export this view", its mass actions, saved views, the API's list,
//! mass actions and exports, job payloads), and one codec per *syntax*:
//!
//! - the **query syntax** of the grid's URL, its forms, saved views and job
//!   payloads (`view=active&q=smith&status=locked&sort=-createdAt`): read
//!   leniently by [`Selection::from_query`] (what cannot be understood is
//!   ignored and named, as a grid must still show), printed canonically by
//!   [`Selection::to_query_pairs`], so print → read gives the same selection;
//! - the **API syntax** (`filter[view]=active&filter[search]=smith&sort=…`):
//!   read strictly by [`Selection::from_api`] (every problem is an error
//!   naming its parameter), printed by [`Selection::to_api_pairs`].
//!
//! Both syntaxes can spell every field of [`UserFilter`], so a selection
//! crosses from one surface to another without losing a filter.

use crate::dates::{format_bound, parse_date};
use crate::error::{Error, FieldError};
use crate::filter::{UserFilter, UserSort, View};
use crate::permission::Role;
use crate::status::AuthStatus;

/// Longest text a filter keeps (a search box, a "contains").
const MAX_TEXT: usize = 254;

/// A selection of users: who (the filter) and in which order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub filter: UserFilter,
    pub sort: UserSort,
}

/// The filter keys of the query syntax, each with its API name.
/// (`key`, `api`): text filters first.
const TEXTS: [(&str, &str); 7] = [
    ("q", "search"),
    ("first_name", "firstName"),
    ("last_name", "lastName"),
    ("email", "emailContains"),
    ("username", "usernameContains"),
    ("email_is", "email"),
    ("username_is", "username"),
];
const DATES: [(&str, &str, bool); 4] = [
    ("created_from", "createdFrom", false),
    ("created_to", "createdTo", true),
    ("updated_from", "updatedFrom", false),
    ("updated_to", "updatedTo", true),
];

/// The API's filter names, for the message of an unknown one.
pub const API_FILTERS: [&str; 18] = [
    "view",
    "enabled",
    "authStatus",
    "search",
    "firstName",
    "lastName",
    "email",
    "emailContains",
    "username",
    "usernameContains",
    "role",
    "organization",
    "createdFrom",
    "createdTo",
    "updatedFrom",
    "updatedTo",
    "id",
    "twoFactor",
];

/// A text box's value: trimmed, without control characters (a database cannot store NUL).
fn text(v: &str) -> Option<String> {
    let t: String = v.trim().chars().filter(|c| !c.is_control()).take(MAX_TEXT).collect();
    (!t.is_empty()).then_some(t)
}

fn text_slot<'a>(f: &'a mut UserFilter, key: &str) -> Option<&'a mut Option<String>> {
    Some(match key {
        "q" => &mut f.search,
        "first_name" => &mut f.first_name_contains,
        "last_name" => &mut f.last_name_contains,
        "email" => &mut f.email_contains,
        "username" => &mut f.username_contains,
        "email_is" => &mut f.email,
        "username_is" => &mut f.username,
        _ => return None,
    })
}

fn text_value<'a>(f: &'a UserFilter, key: &str) -> Option<&'a String> {
    match key {
        "q" => f.search.as_ref(),
        "first_name" => f.first_name_contains.as_ref(),
        "last_name" => f.last_name_contains.as_ref(),
        "email" => f.email_contains.as_ref(),
        "username" => f.username_contains.as_ref(),
        "email_is" => f.email.as_ref(),
        "username_is" => f.username.as_ref(),
        _ => None,
    }
}

fn date_slot<'a>(f: &'a mut UserFilter, key: &str) -> &'a mut Option<i64> {
    match key {
        "created_from" => &mut f.created_from,
        "created_to" => &mut f.created_to,
        "updated_from" => &mut f.updated_from,
        _ => &mut f.updated_to,
    }
}

fn date_value(f: &UserFilter, key: &str) -> Option<i64> {
    match key {
        "created_from" => f.created_from,
        "created_to" => f.created_to,
        "updated_from" => f.updated_from,
        _ => f.updated_to,
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim() {
        "yes" | "true" | "1" => Some(true),
        "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

fn push_status(f: &mut UserFilter, s: AuthStatus) {
    if !f.auth_statuses.contains(&s) {
        f.auth_statuses.push(s);
    }
}

fn push_id(ids: &mut Vec<i64>, id: i64) {
    if !ids.contains(&id) {
        ids.push(id);
    }
}

impl Selection {
    /// Read the query syntax. Never fails: what cannot be understood is
    /// ignored and described in the second value, for the page to show.
    pub fn from_query(pairs: &[(String, String)]) -> (Selection, Vec<String>) {
        let mut s = Selection {
            filter: UserFilter {
                view: Some(View::default()),
                ..UserFilter::default()
            },
            sort: UserSort::default(),
        };
        let mut problems = Vec::new();
        let f = &mut s.filter;
        for (k, v) in pairs {
            let v = v.as_str();
            if let Some(slot) = text_slot(f, k) {
                *slot = text(v);
                continue;
            }
            if let Some((key, _, end_of_day)) = DATES.iter().find(|(key, _, _)| key == k) {
                let t = parse_date(v, *end_of_day);
                if t.is_none() && !v.trim().is_empty() {
                    problems.push(format!("{key}: {v:?} is not a date (YYYY-MM-DD); ignored"));
                }
                *date_slot(f, key) = t;
                continue;
            }
            match k.as_str() {
                "view" if !v.is_empty() => match View::parse(v) {
                    Ok(view) => f.view = Some(view),
                    Err(_) => problems.push(format!("unknown view {v:?}; showing active users")),
                },
                "enabled" => f.enabled = parse_bool(v),
                "two_factor" => f.second_factor = parse_bool(v),
                "status" => {
                    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        match AuthStatus::parse(part) {
                            Ok(st) => push_status(f, st),
                            Err(_) => problems.push(format!("unknown status {part:?}; ignored")),
                        }
                    }
                }
                "role" if !v.is_empty() => match Role::parse(v) {
                    Ok(r) => f.role = Some(r.name().to_owned()),
                    Err(_) => problems.push(format!("unknown role {v:?}; ignored")),
                },
                "org" => f.organization_id = v.trim().parse().ok(),
                "id" => {
                    if let Ok(id) = v.trim().parse() {
                        push_id(f.only_ids.get_or_insert_with(Vec::new), id);
                    }
                }
                "except" => {
                    if let Ok(id) = v.trim().parse() {
                        push_id(&mut f.exclude_ids, id);
                    }
                }
                "sort" if !v.is_empty() => match UserSort::parse(v) {
                    Ok(sort) => s.sort = sort,
                    Err(e) => problems.push(format!("{e}; ignored")),
                },
                _ => {}
            }
        }
        (s, problems)
    }

    /// The canonical query syntax: a fixed order, nothing that is not set
    /// (the view always, the sort when it is not the default).
    pub fn to_query_pairs(&self) -> Vec<(&'static str, String)> {
        let f = &self.filter;
        let mut out = vec![("view", f.view.unwrap_or_default().as_str().to_owned())];
        for (key, _) in TEXTS {
            if let Some(v) = text_value(f, key) {
                out.push((key, v.clone()));
            }
        }
        if let Some(e) = f.enabled {
            out.push(("enabled", if e { "yes" } else { "no" }.to_owned()));
        }
        if let Some(t) = f.second_factor {
            out.push(("two_factor", if t { "yes" } else { "no" }.to_owned()));
        }
        for st in &f.auth_statuses {
            out.push(("status", st.as_str().to_owned()));
        }
        if let Some(r) = &f.role {
            out.push(("role", r.clone()));
        }
        if let Some(o) = f.organization_id {
            out.push(("org", o.to_string()));
        }
        for (key, _, end_of_day) in DATES {
            if let Some(t) = date_value(f, key) {
                out.push((key, format_bound(t, end_of_day)));
            }
        }
        for id in f.only_ids.iter().flatten() {
            out.push(("id", id.to_string()));
        }
        for id in &f.exclude_ids {
            out.push(("except", id.to_string()));
        }
        if self.sort != UserSort::default() {
            out.push(("sort", self.sort.to_param()));
        }
        out
    }

    /// Read the API syntax: `filter[name]` and `sort`. Parameters of other
    /// kinds (`page[…]`, `include`…) are the caller's and are skipped. Every
    /// problem is an error naming its parameter; a parameter given twice is one.
    pub fn from_api(pairs: &[(String, String)]) -> Result<Selection, Error> {
        let mut s = Selection::default();
        let mut errors = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            let Some(inner) = name
                .strip_prefix("filter[")
                .and_then(|n| n.strip_suffix(']'))
                .or((name == "sort").then_some("sort"))
            else {
                continue;
            };
            if seen.contains(&name.as_str()) {
                errors.push(FieldError::new(name.clone(), format!("{name} is given twice")));
                continue;
            }
            seen.push(name);
            if let Err(message) = s.set_api(inner, value) {
                errors.push(FieldError::new(name.clone(), message));
            }
        }
        if errors.is_empty() {
            Ok(s)
        } else {
            Err(Error::Invalid(errors))
        }
    }

    fn set_api(&mut self, inner: &str, value: &str) -> Result<(), String> {
        let f = &mut self.filter;
        let v = value.trim();
        if let Some((key, _)) = TEXTS.iter().find(|(_, api)| *api == inner) {
            // taken as given: an exact filter means exactly this
            if value.chars().any(char::is_control) {
                return Err(format!("filter[{inner}] must not contain control characters"));
            }
            if value.chars().count() > MAX_TEXT {
                return Err(format!("filter[{inner}] must be at most {MAX_TEXT} characters"));
            }
            if let Some(slot) = text_slot(f, key) {
                *slot = Some(value.to_owned());
            }
            return Ok(());
        }
        if let Some((key, _, end_of_day)) = DATES.iter().find(|(_, api, _)| *api == inner) {
            let t = parse_date(v, *end_of_day)
                .ok_or_else(|| "must be a date (YYYY-MM-DD) or an RFC 3339 time".to_owned())?;
            *date_slot(f, key) = Some(t);
            return Ok(());
        }
        match inner {
            "sort" => {
                if v.is_empty() {
                    return Err("sort must name at least one field".to_owned());
                }
                self.sort = UserSort::parse(v).map_err(message_of)?;
            }
            "view" => f.view = Some(View::parse(v).map_err(message_of)?),
            "enabled" => f.enabled = Some(parse_bool(v).ok_or_else(|| "must be true or false".to_owned())?),
            "twoFactor" => {
                f.second_factor = Some(parse_bool(v).ok_or_else(|| "must be true or false".to_owned())?);
            }
            "authStatus" => {
                for part in v.split(',') {
                    let st = AuthStatus::parse(part).map_err(|_| {
                        format!(
                            "unknown status {part:?} in filter[authStatus]: expected active, locked or password_reset"
                        )
                    })?;
                    push_status(f, st);
                }
            }
            "role" => f.role = Some(Role::parse(v).map_err(message_of)?.name().to_owned()),
            "organization" => f.organization_id = Some(v.parse().map_err(|_| "must be an organization id".to_owned())?),
            "id" => {
                let mut ids = Vec::new();
                for part in v.split(',') {
                    let id = part.trim().parse().map_err(|_| format!("{part:?} is not a user id"))?;
                    push_id(&mut ids, id);
                }
                f.only_ids = Some(ids);
            }
            other => {
                return Err(format!(
                    "unknown filter {other:?}: expected one of {}",
                    API_FILTERS.map(|k| format!("filter[{k}]")).join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The API syntax, in a fixed order (for links and the mass actions' description).
    pub fn to_api_pairs(&self) -> Vec<(String, String)> {
        let f = &self.filter;
        let mut out = Vec::new();
        let mut push = |k: &str, v: String| out.push((format!("filter[{k}]"), v));
        if let Some(v) = f.view {
            push("view", v.as_str().to_owned());
        }
        if let Some(e) = f.enabled {
            push("enabled", e.to_string());
        }
        if let Some(t) = f.second_factor {
            push("twoFactor", t.to_string());
        }
        if !f.auth_statuses.is_empty() {
            push(
                "authStatus",
                f.auth_statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
            );
        }
        for (key, api) in TEXTS {
            if let Some(v) = text_value(f, key) {
                push(api, v.clone());
            }
        }
        if let Some(r) = &f.role {
            push("role", r.clone());
        }
        if let Some(o) = f.organization_id {
            push("organization", o.to_string());
        }
        for (key, api, end_of_day) in DATES {
            if let Some(t) = date_value(f, key) {
                push(api, format_bound(t, end_of_day));
            }
        }
        if let Some(ids) = &f.only_ids {
            push("id", ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
        }
        if self.sort != UserSort::default() {
            out.push(("sort".to_owned(), self.sort.to_param()));
        }
        out
    }
}

fn message_of(e: Error) -> String {
    match e {
        Error::Invalid(fields) => fields.into_iter().map(|f| f.message).collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{SortDir, SortField};

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn owned(list: Vec<(&'static str, String)>) -> Vec<(String, String)> {
        list.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// A selection that sets every field of the filter.
    fn everything() -> Selection {
        Selection {
            filter: UserFilter {
                view: Some(View::CannotLogin),
                enabled: Some(true),
                auth_statuses: vec![AuthStatus::Locked, AuthStatus::PasswordReset],
                username: Some("jdoe".into()),
                email: Some("j@x.test".into()),
                search: Some("van dijk".into()),
                first_name_contains: Some("Jo".into()),
                last_name_contains: Some("Do".into()),
                username_contains: Some("jd".into()),
                email_contains: Some("@x".into()),
                role: Some("User Manager".into()),
                organization_id: Some(3),
                created_from: parse_date("2026-01-01", false),
                created_to: parse_date("2026-02-01", true),
                updated_from: parse_date("2026-03-01T10:00:00Z", false),
                updated_to: parse_date("2026-04-01", true),
                second_factor: Some(false),
                exclude_ids: vec![7, 9],
                only_ids: Some(vec![1, 2, 3]),
            },
            sort: UserSort(vec![
                (SortField::LastName, SortDir::Asc),
                (SortField::CreatedAt, SortDir::Desc),
            ]),
        }
    }

    #[test]
    fn every_field_survives_the_query_syntax() {
        let s = everything();
        let (back, problems) = Selection::from_query(&owned(s.to_query_pairs()));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(back, s);
    }

    #[test]
    fn every_field_but_the_exceptions_survives_the_api_syntax() {
        // the API names users by `filter[id]`; "all matching except" is the UI's and the jobs'
        let mut s = everything();
        s.filter.exclude_ids.clear();
        let back = Selection::from_api(&s.to_api_pairs()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn grid_spelling_and_api_spelling_mean_the_same() {
        let (grid, problems) = Selection::from_query(&pairs(&[
            ("view", "all"),
            ("q", "smith"),
            ("status", "locked"),
            ("email", "example"),
            ("org", "2"),
            ("created_to", "2026-01-31"),
            ("sort", "-createdAt"),
            ("page", "3"),
            ("col", "email"),
        ]));
        assert!(problems.is_empty(), "{problems:?}");
        let api = Selection::from_api(&pairs(&[
            ("filter[view]", "all"),
            ("filter[search]", "smith"),
            ("filter[authStatus]", "locked"),
            ("filter[emailContains]", "example"),
            ("filter[organization]", "2"),
            ("filter[createdTo]", "2026-01-31"),
            ("sort", "-createdAt"),
            ("page[size]", "10"),
        ]))
        .unwrap();
        assert_eq!(grid, api);
        assert_eq!(grid.filter.search.as_deref(), Some("smith"));
        assert_eq!(grid.filter.email_contains.as_deref(), Some("example"));
        assert_eq!(grid.filter.email, None, "the grid's email box is contains, not exact");
    }

    #[test]
    fn the_query_syntax_ignores_and_names_nonsense() {
        let (s, problems) = Selection::from_query(&pairs(&[
            ("view", "everyone"),
            ("status", "gone"),
            ("role", "root"),
            ("sort", "password"),
            ("created_to", "yesterday"),
            ("org", "x"),
        ]));
        assert_eq!(s.filter.view, Some(View::Active));
        assert_eq!(s.filter.created_to, None);
        assert_eq!(s.filter.organization_id, None);
        assert_eq!(problems.len(), 5, "{problems:?}");
    }

    #[test]
    fn the_api_syntax_names_each_bad_parameter() {
        let Err(Error::Invalid(fields)) = Selection::from_api(&pairs(&[
            ("filter[view]", "everyone"),
            ("filter[enabled]", "perhaps"),
            ("filter[nope]", "1"),
            ("filter[createdFrom]", "soon"),
            ("filter[search]", "a\u{0}b"),
            ("sort", ""),
        ])) else {
            panic!("expected errors");
        };
        let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            names,
            [
                "filter[view]",
                "filter[enabled]",
                "filter[nope]",
                "filter[createdFrom]",
                "filter[search]",
                "sort"
            ]
        );
        let Err(Error::Invalid(twice)) =
            Selection::from_api(&pairs(&[("filter[view]", "all"), ("filter[view]", "all")]))
        else {
            panic!("expected an error");
        };
        assert_eq!(twice[0].field, "filter[view]");
    }
}

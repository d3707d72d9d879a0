//! The filters of an export "of the current view", as plain strings that
//! survive in a job's payload and are parsed again by the worker.
//!
//! Keys are the grid's and the API's: `view`, `enabled`, `auth_status`,
//! `username`, `email`, `search`, `first_name`, `last_name`, `role`,
//! `organization_id`, `created_from`, `created_to`, `updated_from`,
//! `updated_to`; `filter[authStatus]`-style and camelCase spellings are accepted.

use muster_domain::{AuthStatus, Error as DomainError, FieldError, UserFilter, View};
use serde::{Deserialize, Serialize};

use crate::clock;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterParams {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pairs: Vec<(String, String)>,
}

/// `filter[authStatus]` → `auth_status`; `firstName` → `first_name`.
fn normalize(key: &str) -> String {
    let inner = key
        .strip_prefix("filter[")
        .and_then(|k| k.strip_suffix(']'))
        .unwrap_or(key);
    let mut out = String::new();
    for c in inner.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

const KEYS: [&str; 15] = [
    "view",
    "enabled",
    "auth_status",
    "username",
    "email",
    "search",
    "first_name",
    "last_name",
    "role",
    "organization_id",
    "organization",
    "created_from",
    "created_to",
    "updated_from",
    "updated_to",
];

impl FilterParams {
    /// Keep the filter keys of a form or query string, without empty values; ignore the rest.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut kept = Vec::new();
        for (k, v) in pairs {
            let key = normalize(k);
            let v = v.trim();
            if KEYS.contains(&key.as_str()) && !v.is_empty() {
                kept.push((key, v.to_owned()));
            }
        }
        FilterParams { pairs: kept }
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The filter, every problem named by its key.
    pub fn to_filter(&self) -> Result<UserFilter, DomainError> {
        let mut errors = Vec::new();
        let mut f = UserFilter::default();
        if let Some(v) = self.get("view") {
            match View::parse(v) {
                Ok(view) => f.view = Some(view),
                Err(_) => errors.push(FieldError::new(
                    "view",
                    format!("unknown view {v:?}: expected all, active, disabled or cannot_login"),
                )),
            }
        }
        if let Some(v) = self.get("enabled") {
            match v {
                "true" | "1" | "yes" => f.enabled = Some(true),
                "false" | "0" | "no" => f.enabled = Some(false),
                _ => errors.push(FieldError::new("enabled", "must be true or false")),
            }
        }
        if let Some(v) = self.get("auth_status") {
            for s in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match AuthStatus::parse(s) {
                    Ok(st) => f.auth_statuses.push(st),
                    Err(_) => errors.push(FieldError::new("auth_status", format!("unknown status {s:?}"))),
                }
            }
        }
        f.username = self.get("username").map(str::to_owned);
        f.email = self.get("email").map(str::to_owned);
        f.search = self.get("search").map(str::to_owned);
        f.first_name_contains = self.get("first_name").map(str::to_owned);
        f.last_name_contains = self.get("last_name").map(str::to_owned);
        if let Some(v) = self.get("role") {
            match muster_domain::Role::parse(v) {
                Ok(r) => f.role = Some(r.name().to_owned()),
                Err(_) => errors.push(FieldError::new("role", format!("unknown role {v:?}"))),
            }
        }
        if let Some(v) = self.get("organization_id").or_else(|| self.get("organization")) {
            match v.parse::<i64>() {
                Ok(id) => f.organization_id = Some(id),
                Err(_) => errors.push(FieldError::new("organization_id", "must be an organization id")),
            }
        }
        let dates = [
            ("created_from", false),
            ("created_to", true),
            ("updated_from", false),
            ("updated_to", true),
        ];
        for (key, end_of_day) in dates {
            if let Some(v) = self.get(key) {
                let Some(t) = clock::parse_date(v, end_of_day) else {
                    errors.push(FieldError::new(key, "must be a date (YYYY-MM-DD) or an RFC 3339 time"));
                    continue;
                };
                match key {
                    "created_from" => f.created_from = Some(t),
                    "created_to" => f.created_to = Some(t),
                    "updated_from" => f.updated_from = Some(t),
                    _ => f.updated_to = Some(t),
                }
            }
        }
        if errors.is_empty() {
            Ok(f)
        } else {
            Err(DomainError::Invalid(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_and_api_spellings_give_the_same_filter() {
        let a = FilterParams::from_pairs([("view", "cannot_login"), ("authStatus", "locked"), ("csrf", "x")]);
        let b = FilterParams::from_pairs([("filter[view]", "cannot_login"), ("filter[auth_status]", "locked")]);
        assert_eq!(a, b);
        let f = a.to_filter().unwrap();
        assert_eq!(f.view, Some(View::CannotLogin));
        assert_eq!(f.auth_statuses, vec![AuthStatus::Locked]);
        assert!(FilterParams::from_pairs([("view", "")]).is_empty());
    }

    #[test]
    fn bad_values_are_named() {
        let e = FilterParams::from_pairs([("view", "nope"), ("enabled", "perhaps"), ("created_from", "soon")])
            .to_filter()
            .unwrap_err();
        let DomainError::Invalid(fields) = e else { panic!() };
        let keys: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(keys, ["view", "enabled", "created_from"]);
    }
}

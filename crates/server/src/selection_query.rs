//! The query syntax of a [`Selection`] as a string (`view=active&q=smith`):
//! the grid's URL, saved views and job payloads. The domain reads and prints
//! the pairs; this adds only the URL encoding.

use muster_domain::Selection;

/// Read a query string leniently; the second value names what was ignored.
pub fn parse(q: &str) -> (Selection, Vec<String>) {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).unwrap_or_default();
    Selection::from_query(&pairs)
}

/// The canonical query string of `s`.
pub fn print(s: &Selection) -> String {
    serde_urlencoded::to_string(s.to_query_pairs()).unwrap_or_default()
}

/// Whether the pairs name any part of a selection (anything but a CSRF token, a page, columns…).
pub fn names_a_selection(pairs: &[(String, String)]) -> bool {
    const KEYS: [&str; 19] = [
        "view",
        "q",
        "first_name",
        "last_name",
        "email",
        "username",
        "email_is",
        "username_is",
        "enabled",
        "status",
        "role",
        "org",
        "created_from",
        "created_to",
        "updated_from",
        "updated_to",
        "id",
        "except",
        "sort",
    ];
    pairs
        .iter()
        .any(|(k, v)| KEYS.contains(&k.as_str()) && !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_then_parse_is_the_same_selection() {
        let (s, problems) =
            parse("view=all&q=van+Dijk&status=locked&org=2&created_to=2026-01-31&sort=-createdAt&except=4");
        assert!(problems.is_empty(), "{problems:?}");
        let (again, problems) = parse(&print(&s));
        assert!(problems.is_empty());
        assert_eq!(again, s);
        assert_eq!(s.filter.search.as_deref(), Some("van Dijk"));
    }
}

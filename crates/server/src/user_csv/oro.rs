//! Oro's user export read as muster's CSV (DESIGN.md §5 "Oro CSV aliases"):
//! the headers of an OroCRM/OroCommerce export of users name muster's keys,
//! and Oro's words for a status are read as muster's.
//!
//! A file whose header uses at least one Oro name is an Oro export: its other
//! columns (Oro exports many: "Name Prefix", "Birthday", "Owner", "Groups"…)
//! are left out instead of refusing the file, and listed in the report.

use super::Column;

/// Oro's header → muster's column. Compared without regard to case or surrounding spaces.
const ALIASES: [(&str, Column); 9] = [
    ("Id", Column::Id),
    ("Username", Column::Username),
    ("Primary Email", Column::Email),
    ("First Name", Column::FirstName),
    ("Last Name", Column::LastName),
    ("Enabled", Column::Enabled),
    ("Status", Column::AuthStatus),
    ("Roles", Column::Roles),
    ("Organizations", Column::Organizations),
];

/// The column an Oro header names, if it is one of Oro's.
pub fn alias(header: &str) -> Option<Column> {
    let h = header.trim();
    ALIASES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(h) && !h.chars().all(|c| c.is_ascii_lowercase()))
        .map(|(_, c)| *c)
}

/// Oro's status names (its `auth_status` enum ids and labels) as muster's statuses;
/// anything else is returned as it is.
pub fn status(cell: &str) -> &str {
    match cell.trim().to_ascii_lowercase().as_str() {
        "active" => "active",
        "locked" => "locked",
        // Oro's id for "Password reset" is `expired`
        "expired" | "password reset" | "reset" | "password_reset" => "password_reset",
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oro_headers_are_muster_keys() {
        assert_eq!(alias("Primary Email"), Some(Column::Email));
        assert_eq!(alias(" first name "), Some(Column::FirstName));
        assert_eq!(alias("Status"), Some(Column::AuthStatus));
        assert_eq!(alias("Organizations"), Some(Column::Organizations));
        // muster's own lower-case keys are not Oro's
        assert_eq!(alias("username"), None);
        assert_eq!(alias("Birthday"), None);
        assert_eq!(status("Expired"), "password_reset");
        assert_eq!(status("Password reset"), "password_reset");
        assert_eq!(status("Locked"), "locked");
        assert_eq!(status("sleeping"), "sleeping");
    }
}

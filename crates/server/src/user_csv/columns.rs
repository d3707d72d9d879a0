//! The exportable columns, how each cell is written, and the formula guard.

use muster_store::users::User;

use crate::clock;
use crate::settings::Settings;

/// Lists (organizations, roles) in one cell.
pub const LIST_SEPARATOR: &str = ", ";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Id,
    Username,
    Email,
    FirstName,
    LastName,
    Enabled,
    AuthStatus,
    Organizations,
    Roles,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
    LoginCount,
    PasswordHash,
}

impl Column {
    /// In the order of DESIGN.md §2, which is the order of the columns in a file.
    pub const ALL: [Column; 14] = [
        Column::Id,
        Column::Username,
        Column::Email,
        Column::FirstName,
        Column::LastName,
        Column::Enabled,
        Column::AuthStatus,
        Column::Organizations,
        Column::Roles,
        Column::CreatedAt,
        Column::UpdatedAt,
        Column::LastLoginAt,
        Column::LoginCount,
        Column::PasswordHash,
    ];

    /// The header key.
    pub fn key(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::Username => "username",
            Column::Email => "email",
            Column::FirstName => "first_name",
            Column::LastName => "last_name",
            Column::Enabled => "enabled",
            Column::AuthStatus => "auth_status",
            Column::Organizations => "organizations",
            Column::Roles => "roles",
            Column::CreatedAt => "created_at",
            Column::UpdatedAt => "updated_at",
            Column::LastLoginAt => "last_login_at",
            Column::LoginCount => "login_count",
            Column::PasswordHash => "password_hash",
        }
    }

    /// The boolean setting that makes this column exportable (see `settings::DESCRIPTORS`).
    pub fn setting_key(self) -> &'static str {
        match self {
            Column::Id => "export_field_id",
            Column::Username => "export_field_username",
            Column::Email => "export_field_email",
            Column::FirstName => "export_field_first_name",
            Column::LastName => "export_field_last_name",
            Column::Enabled => "export_field_enabled",
            Column::AuthStatus => "export_field_auth_status",
            Column::Organizations => "export_field_organizations",
            Column::Roles => "export_field_roles",
            Column::CreatedAt => "export_field_created_at",
            Column::UpdatedAt => "export_field_updated_at",
            Column::LastLoginAt => "export_field_last_login_at",
            Column::LoginCount => "export_field_login_count",
            Column::PasswordHash => "export_field_password_hash",
        }
    }

    pub fn parse(key: &str) -> Option<Column> {
        let key = key.trim();
        Column::ALL.into_iter().find(|c| c.key() == key)
    }

    /// The cell for `u`, before the formula guard.
    pub fn raw_cell(self, u: &User) -> String {
        match self {
            Column::Id => u.id.to_string(),
            Column::Username => u.username.clone(),
            Column::Email => u.email.clone(),
            Column::FirstName => u.first_name.clone(),
            Column::LastName => u.last_name.clone(),
            Column::Enabled => u.enabled.to_string(),
            Column::AuthStatus => u.auth_status.as_str().to_owned(),
            Column::Organizations => u.organizations.join(LIST_SEPARATOR),
            Column::Roles => u
                .roles
                .iter()
                .map(|r| r.name())
                .collect::<Vec<_>>()
                .join(LIST_SEPARATOR),
            Column::CreatedAt => clock::rfc3339(u.created_at),
            Column::UpdatedAt => clock::rfc3339(u.updated_at),
            Column::LastLoginAt => u.last_login_at.map(clock::rfc3339).unwrap_or_default(),
            Column::LoginCount => u.login_count.to_string(),
            Column::PasswordHash => u.password_hash.clone(),
        }
    }

    /// The cell for `u` as written to the file.
    pub fn cell(self, u: &User) -> String {
        guard(self.raw_cell(u))
    }
}

/// The columns the settings mark exportable, in file order.
pub fn exportable(settings: &Settings) -> Vec<Column> {
    Column::ALL
        .into_iter()
        .filter(|c| settings.flag(c.setting_key()))
        .collect()
}

fn is_formula_start(c: char) -> bool {
    matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r')
}

/// A leading `'` on a cell a spreadsheet would treat as a formula.
pub fn guard(cell: String) -> String {
    if cell.starts_with(is_formula_start) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// The cell as it was before [`guard`]: one `'` before a formula character is dropped.
pub fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(is_formula_start) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_guard_prefixes_dangerous_starts_only() {
        for bad in ["=SUM(A1)", "+1", "-2", "@cmd", "\tx", "\rx"] {
            let g = guard(bad.to_owned());
            assert_eq!(g, format!("'{bad}"), "{bad:?}");
            assert_eq!(unguard(&g), bad);
        }
        for fine in ["alice", "a=b", "", "1-2", "'quoted", "$argon2id$v=19$m=19456"] {
            assert_eq!(guard(fine.to_owned()), fine);
            assert_eq!(unguard(fine), fine);
        }
    }

    #[test]
    fn keys_and_settings_match() {
        for c in Column::ALL {
            assert_eq!(Column::parse(c.key()), Some(c));
            assert_eq!(c.setting_key(), format!("export_field_{}", c.key()));
            assert!(
                crate::settings::DESCRIPTORS.iter().any(|d| d.key == c.setting_key()),
                "{} has a setting",
                c.key()
            );
        }
        assert_eq!(Column::parse("password"), None);
        assert_eq!(exportable(&Settings::defaults()).len(), 14, "all exportable by default");
    }
}

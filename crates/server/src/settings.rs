//! Typed settings over the `settings` table. Each setting is described once
//! here (key, label, bounds, default); the settings page renders this list.

use muster_domain::lockout::AddressThrottle;
use muster_domain::{LockoutPolicy, PasswordPolicy};
use muster_store::{Conn, settings as store};

use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    /// One of a few values, each with its words (a select on the page).
    Choice(&'static [(i64, &'static str)]),
}

/// The second factor's rule per role (`muster_domain::second_factor`).
const FACTOR_RULES: &[(i64, &str)] = &[(0, "Off"), (1, "Optional"), (2, "Required")];

#[derive(Debug, Clone, Copy)]
pub struct Descriptor {
    pub key: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub default: i64,
}

pub const DESCRIPTORS: &[Descriptor] = &[
    Descriptor {
        key: "failed_login_limit",
        label: "Failed logins before lockout",
        help: "0 turns the lockout off",
        kind: Kind::Int { min: 0, max: 1000 },
        default: 10,
    },
    Descriptor {
        key: "argon2_memory_kib",
        label: "Argon2 memory (KiB)",
        help: "m; new hashes and rehash on sign-in",
        kind: Kind::Int {
            min: 8192,
            max: 1_048_576,
        },
        default: 19456,
    },
    Descriptor {
        key: "argon2_iterations",
        label: "Argon2 iterations",
        help: "t",
        kind: Kind::Int { min: 1, max: 20 },
        default: 2,
    },
    Descriptor {
        key: "argon2_parallelism",
        label: "Argon2 parallelism",
        help: "p",
        kind: Kind::Int { min: 1, max: 16 },
        default: 1,
    },
    Descriptor {
        key: "password_min_length",
        label: "Password minimum length",
        help: "characters",
        kind: Kind::Int { min: 8, max: 128 },
        default: 12,
    },
    Descriptor {
        key: "password_max_length",
        label: "Password maximum length",
        help: "characters",
        kind: Kind::Int { min: 12, max: 1024 },
        default: 128,
    },
    Descriptor {
        key: "password_min_score",
        label: "Password strength (zxcvbn score)",
        help: "0 to 4",
        kind: Kind::Int { min: 0, max: 4 },
        default: 3,
    },
    Descriptor {
        key: "password_require_lowercase",
        label: "Require a lowercase letter",
        help: "",
        kind: Kind::Bool,
        default: 0,
    },
    Descriptor {
        key: "password_require_uppercase",
        label: "Require an uppercase letter",
        help: "",
        kind: Kind::Bool,
        default: 0,
    },
    Descriptor {
        key: "password_require_digit",
        label: "Require a digit",
        help: "",
        kind: Kind::Bool,
        default: 0,
    },
    Descriptor {
        key: "password_require_special",
        label: "Require a special character",
        help: "",
        kind: Kind::Bool,
        default: 0,
    },
    Descriptor {
        key: "session_ttl_minutes",
        label: "Session lifetime (minutes of inactivity)",
        help: "",
        kind: Kind::Int { min: 5, max: 43_200 },
        default: 720,
    },
    Descriptor {
        key: "reset_ttl_admin_hours",
        label: "Reset link lifetime, sent by an administrator (hours)",
        help: "",
        kind: Kind::Int { min: 1, max: 720 },
        default: 24,
    },
    Descriptor {
        key: "reset_ttl_forgot_minutes",
        label: "Reset link lifetime, from Forgot password (minutes)",
        help: "",
        kind: Kind::Int { min: 5, max: 1440 },
        default: 60,
    },
    Descriptor {
        key: "export_retention_days",
        label: "Keep export files for (days)",
        help: "finished exports are deleted after this many days",
        kind: Kind::Int { min: 1, max: 3650 },
        default: 7,
    },
    Descriptor {
        key: "export_field_id",
        label: "Exportable field: ID",
        help: "",
        kind: Kind::Bool,
        default: 1,
    },
    Descriptor {
        key: "export_field_username",
        label: "Exportable field: Username",
        help: "",
        kind: Kind::Bool,
        default: 1,
    },
    Descriptor {
        key: "export_field_email",
        label: "Exportable field: Primary email",
        help: "",
        kind: Kind::Bool,
        default: 1,
    },
    Descriptor {
        key: "export_field_first_name",
        label: "Exportable field: First name",
        help: "",
        kind: Kind::Bool,
        default: 1,
    },
    Descriptor {
        key: "export_field_last_name",
        label: "Exportable field: Last name",
        help: "",
        kind: Kind::Bool,
        default: 1,
    },
    Descriptor {
        key: "export_field_enabled",
        label: "Exportable field: Enabled",
        help: "",
        kind: Kind::Bool,
        default: 1,
    },
    Descriptor {
        key: "export_field_auth_status",
        label: "Exportable field: Auth status",
        help: "",
        kind: Kind::Bool,
        default: 1,
    },
    Descriptor {
        key: "export_field_organizations",
        label: "Exportable field: Organizations",
        help: "",
        kind: Kind::Bool,
        default: 1,
    },
    Descriptor {
        key: "export_field_roles",
        label: "Exportable field: Roles",
        help: "",
        kind: Kind::Bool,
        default: 1,
    },
    Descriptor {
        key: "export_field_created_at",
        label: "Exportable field: Created at",
        help: "",
        kind: Kind::Bool,
        default: 1,
    },
    Descriptor {
        key: "export_field_updated_at",
        label: "Exportable field: Updated at",
        help: "",
        kind: Kind::Bool,
        default: 1,
    },
    Descriptor {
        key: "export_field_last_login_at",
        label: "Exportable field: Last login at",
        help: "",
        kind: Kind::Bool,
        default: 1,
    },
    Descriptor {
        key: "export_field_login_count",
        label: "Exportable field: Login count",
        help: "",
        kind: Kind::Bool,
        default: 1,
    },
    Descriptor {
        key: "export_field_password_hash",
        label: "Exportable field: Password (as its hash)",
        help: "",
        kind: Kind::Bool,
        default: 1,
    },
    Descriptor {
        key: "api_key_failures_per_minute",
        label: "Failed API key attempts per minute, per address",
        help: "then 429 until the address's budget refills; 0 turns the limit off",
        kind: Kind::Int { min: 0, max: 100_000 },
        default: 10,
    },
    Descriptor {
        key: "login_failures_per_address",
        label: "Failed sign-ins per address before a pause",
        help: "web sign-in, counted over the window below; then 429 without checking the password; 0 turns the pause off",
        kind: Kind::Int { min: 0, max: 100_000 },
        default: 30,
    },
    Descriptor {
        key: "login_failure_window_minutes",
        label: "Window for failed sign-ins per address (minutes)",
        help: "sliding: the pause ends when the oldest counted failure is this old",
        kind: Kind::Int { min: 1, max: 1440 },
        default: 15,
    },
    // Second factor per role: 0 off, 1 optional, 2 required (muster_domain::second_factor).
    Descriptor {
        key: "second_factor_administrator",
        label: "Two-factor sign-in for Administrators",
        help: "Required is recommended: an administrator's password alone opens everything",
        kind: Kind::Choice(FACTOR_RULES),
        default: 1,
    },
    Descriptor {
        key: "second_factor_user_manager",
        label: "Two-factor sign-in for User Managers",
        help: "Required is recommended",
        kind: Kind::Choice(FACTOR_RULES),
        default: 1,
    },
    Descriptor {
        key: "second_factor_user",
        label: "Two-factor sign-in for Users",
        help: "Off only hides the set-up: a factor already set up is still asked",
        kind: Kind::Choice(FACTOR_RULES),
        default: 1,
    },
    Descriptor {
        key: "passkey_sign_in",
        label: "Sign in with a passkey alone",
        help: "the sign-in page offers a passkey instead of username and password (a passkey checks its holder itself); off, a passkey is only a second factor",
        kind: Kind::Bool,
        default: 0,
    },
    Descriptor {
        key: "mail_max_attempts",
        label: "Mail delivery attempts before it is marked failed",
        help: "failed mail is listed under Mail, with a Retry button",
        kind: Kind::Int { min: 1, max: 100 },
        default: 10,
    },
    Descriptor {
        key: "mail_retry_base_seconds",
        label: "First mail retry after (seconds)",
        help: "doubles at each attempt, at most one hour",
        kind: Kind::Int { min: 1, max: 3600 },
        default: 15,
    },
];

/// Every setting, with its value or default.
#[derive(Debug, Clone)]
pub struct Settings {
    values: Vec<(&'static str, i64)>,
}

impl Settings {
    pub fn defaults() -> Self {
        Settings {
            values: DESCRIPTORS.iter().map(|d| (d.key, d.default)).collect(),
        }
    }

    pub async fn load(conn: &mut Conn) -> Result<Self, AppError> {
        let mut s = Self::defaults();
        for (k, v) in store::all(conn).await? {
            if let (Some(slot), Ok(n)) = (s.values.iter_mut().find(|(key, _)| *key == k), v.parse::<i64>()) {
                slot.1 = n;
            }
        }
        Ok(s)
    }

    pub fn get(&self, key: &str) -> i64 {
        self.values.iter().find(|(k, _)| *k == key).map_or(0, |(_, v)| *v)
    }

    pub fn flag(&self, key: &str) -> bool {
        self.get(key) != 0
    }

    fn usize(&self, key: &str) -> usize {
        usize::try_from(self.get(key)).unwrap_or(0)
    }

    pub fn lockout(&self) -> LockoutPolicy {
        LockoutPolicy {
            limit: self.get("failed_login_limit"),
        }
    }

    pub fn address_throttle(&self) -> AddressThrottle {
        AddressThrottle {
            limit: self.get("login_failures_per_address"),
            window_ms: self.get("login_failure_window_minutes") * 60_000,
        }
    }

    pub fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            min_length: self.usize("password_min_length"),
            max_length: self.usize("password_max_length"),
            min_score: u8::try_from(self.get("password_min_score")).unwrap_or(3),
            require_lowercase: self.flag("password_require_lowercase"),
            require_uppercase: self.flag("password_require_uppercase"),
            require_digit: self.flag("password_require_digit"),
            require_special: self.flag("password_require_special"),
        }
    }

    pub fn argon2(&self) -> crate::hashing::Params {
        crate::hashing::Params {
            memory_kib: u32::try_from(self.get("argon2_memory_kib")).unwrap_or(19456),
            iterations: u32::try_from(self.get("argon2_iterations")).unwrap_or(2),
            parallelism: u32::try_from(self.get("argon2_parallelism")).unwrap_or(1),
        }
    }

    /// The second-factor rule for a user with these roles (the strictest of them).
    pub fn second_factor_rule(&self, roles: &[muster_domain::Role]) -> muster_domain::second_factor::FactorRule {
        use muster_domain::Role;
        use muster_domain::second_factor::FactorRule;
        FactorRule::for_roles(roles, |r| {
            FactorRule::from_setting(self.get(match r {
                Role::Administrator => "second_factor_administrator",
                Role::UserManager => "second_factor_user_manager",
                Role::User => "second_factor_user",
            }))
        })
    }

    pub fn session_ttl_ms(&self) -> i64 {
        self.get("session_ttl_minutes") * 60_000
    }
}

/// Parse a form value for a setting, naming the problem.
pub fn parse_value(d: &Descriptor, raw: Option<&str>) -> Result<i64, muster_domain::FieldError> {
    match d.kind {
        Kind::Bool => Ok(i64::from(matches!(
            raw.map(str::trim),
            Some("on" | "true" | "1" | "yes")
        ))),
        Kind::Choice(options) => {
            let raw = raw.unwrap_or("").trim();
            raw.parse::<i64>()
                .ok()
                .filter(|n| options.iter().any(|(v, _)| v == n))
                .ok_or_else(|| {
                    let words: Vec<String> = options.iter().map(|(v, w)| format!("{v} ({w})")).collect();
                    muster_domain::FieldError::new(d.key, format!("must be one of {} (got {raw:?})", words.join(", ")))
                })
        }
        Kind::Int { min, max } => {
            let raw = raw.unwrap_or("").trim();
            let n: i64 = raw
                .parse()
                .map_err(|_| muster_domain::FieldError::new(d.key, format!("must be a whole number (got {raw:?})")))?;
            if n < min || n > max {
                return Err(muster_domain::FieldError::new(
                    d.key,
                    format!("must be between {min} and {max}"),
                ));
            }
            Ok(n)
        }
    }
}

/// Checks that relate two settings.
pub fn check_consistency(values: &[(&'static str, i64)]) -> Vec<muster_domain::FieldError> {
    let get = |k: &str| values.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    let mut errors = Vec::new();
    if let (Some(min), Some(max)) = (get("password_min_length"), get("password_max_length"))
        && min > max
    {
        errors.push(muster_domain::FieldError::new(
            "password_max_length",
            "must not be less than the minimum length",
        ));
    }
    errors
}

//! Authentication status and who may move a user between statuses.
//!
//! ```text
//!            failed logins reach the limit
//!   Active ───────────────────────────────▶ Locked
//!     ▲  ▲                                   │
//!     │  └────────────── Activate ───────────┘
//!     │                                      │ Reset Password
//!     │ new password set                     ▼
//!     └──────────────────────────────── PasswordReset ◀── Reset Password (from Active)
//! ```
//! `enabled` is a separate flag: a disabled user cannot sign in whatever the status.

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthStatus {
    Active,
    Locked,
    PasswordReset,
}

impl AuthStatus {
    pub const ALL: [AuthStatus; 3] = [AuthStatus::Active, AuthStatus::Locked, AuthStatus::PasswordReset];

    /// The stored and API form: `active`, `locked`, `password_reset`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthStatus::Active => "active",
            AuthStatus::Locked => "locked",
            AuthStatus::PasswordReset => "password_reset",
        }
    }

    /// The words of the UI.
    pub fn label(self) -> &'static str {
        match self {
            AuthStatus::Active => "Active",
            AuthStatus::Locked => "Locked",
            AuthStatus::PasswordReset => "Password reset",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw.trim() {
            "active" => Ok(AuthStatus::Active),
            "locked" => Ok(AuthStatus::Locked),
            "password_reset" => Ok(AuthStatus::PasswordReset),
            other => Err(Error::invalid(
                "authStatus",
                format!("unknown status {other:?}: expected active, locked or password_reset"),
            )),
        }
    }
}

/// A change an administrator (or the system) asks of a user's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The failed-login counter reached the limit.
    Lock,
    /// An administrator clears a lock.
    Activate,
    /// An administrator or the user starts a password reset.
    ResetPassword,
    /// A new password was set by the user or by an administrator.
    PasswordSet,
    /// A new password was set through a reset link: the link proves the
    /// mailbox, so it also resolves a lock (the lock guards against guessing).
    ResetLinkUsed,
}

/// The one table of allowed moves. `Ok(to)` is the new status.
pub fn transition(from: AuthStatus, t: Transition) -> Result<AuthStatus, Error> {
    use AuthStatus::*;
    use Transition::*;
    match (from, t) {
        (Active, Lock) => Ok(Locked),
        (Locked, Lock) => Ok(Locked),
        (PasswordReset, Lock) => Err(Error::Refused("a user in password reset cannot be locked".into())),
        (Locked | Active, Activate) => Ok(Active),
        (PasswordReset, Activate) => Err(Error::Refused(
            "the user is in password reset: they must set a new password through the reset link".into(),
        )),
        (_, ResetPassword) => Ok(PasswordReset),
        // A new password resolves a pending reset; it does not lift a lock (only Activate does).
        (PasswordReset, PasswordSet) => Ok(Active),
        (s, PasswordSet) => Ok(s),
        (_, ResetLinkUsed) => Ok(Active),
    }
}

/// Whether a user in this state may authenticate at all (password or API key).
pub fn may_authenticate(enabled: bool, status: AuthStatus) -> bool {
    enabled && status == AuthStatus::Active
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trip() {
        for s in AuthStatus::ALL {
            assert_eq!(AuthStatus::parse(s.as_str()).unwrap(), s);
        }
        assert!(AuthStatus::parse("Locked").is_err());
    }

    #[test]
    fn table() {
        use AuthStatus::*;
        use Transition::*;
        assert_eq!(transition(Active, Lock), Ok(Locked));
        assert_eq!(transition(Locked, Activate), Ok(Active));
        assert!(transition(PasswordReset, Activate).is_err());
        assert_eq!(transition(Locked, ResetPassword), Ok(PasswordReset));
        assert_eq!(transition(PasswordReset, PasswordSet), Ok(Active));
        assert_eq!(transition(Locked, PasswordSet), Ok(Locked));
        assert_eq!(transition(Locked, ResetLinkUsed), Ok(Active));
        assert_eq!(transition(PasswordReset, ResetLinkUsed), Ok(Active));
    }

    #[test]
    fn who_may_authenticate() {
        assert!(may_authenticate(true, AuthStatus::Active));
        assert!(!may_authenticate(false, AuthStatus::Active));
        assert!(!may_authenticate(true, AuthStatus::Locked));
        assert!(!may_authenticate(true, AuthStatus::PasswordReset));
    }
}

//! The rules of muster, free of I/O: types that parse, statuses and their
//! transitions, the lockout, the password policy and permissions.
//! Time is always a parameter (unix milliseconds), never read from a clock.

pub mod acting;
pub mod audit;
pub mod dates;
mod error;
pub mod filter;
pub mod identifier;
pub mod lockout;
pub mod password;
pub mod password_hash;
pub mod permission;
pub mod second_factor;
pub mod selection;
pub mod sort_key;
pub mod status;
pub mod user;

pub use acting::{Action, OnUser, TargetFacts};
pub use audit::AuditAction;
pub use error::{Error, FieldError};
pub use filter::{SortDir, SortField, UserFilter, UserSort, View};
pub use identifier::OrganizationName;
pub use lockout::{LockoutPolicy, LoginOutcome};
pub use password::{Password, PasswordPolicy};
pub use permission::{Actor, Allowed, Permission, Role};
pub use selection::Selection;
pub use sort_key::sort_key;
pub use status::AuthStatus;
pub use user::{EmailAddress, PersonName, Username};

/// Milliseconds since the unix epoch; the one representation of time in muster.
pub type Millis = i64;

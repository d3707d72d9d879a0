//! The users CSV of DESIGN.md §2, both ways: UTF-8, comma, a header row of
//! snake_case keys, one user per row.
//!
//! Cell formats, the same on export and import:
//! - booleans are `true` / `false` (import also takes `1`/`0`, `yes`/`no`);
//! - times are RFC 3339 in UTC; a user who never signed in has an empty `last_login_at`;
//! - `organizations` and `roles` are names joined with `", "`, as the grid shows them;
//! - a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is
//!   written with a leading `'` so that a spreadsheet does not run it as a
//!   formula; import removes that one `'` again.

pub mod columns;
pub mod export;
pub mod import;
pub mod oro;

pub use columns::Column;

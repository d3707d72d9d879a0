//! Store stories, each run on SQLite always and on PostgreSQL from
//! `MUSTER_TEST_DATABASE_URL` (a PostgreSQL test without it fails).
// Tests fail by panicking: unwrap, expect and panic are how they say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod back_office;
mod db;
mod login_rollup;
mod name_order;
mod pool;
mod schema;
mod search_counts;
mod stories;
mod transient;

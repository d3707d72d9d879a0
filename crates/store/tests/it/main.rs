//! Store stories, each run on SQLite always and on PostgreSQL from
//! `MUSTER_TEST_DATABASE_URL` (a PostgreSQL test without it fails).

mod db;
mod stories;

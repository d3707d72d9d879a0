-- PostgreSQL's 0020 moves its trigram index into a narrow table of its own
-- (`user_search`), so that a candidate is checked without visiting the wide
-- users heap. SQLite already has that: the FTS5 trigram table of 0009
-- (`users_fts`) answers a search from the index alone and yields its matches
-- in rowid order (crates/store/src/users.rs, `SearchIndex`). Nothing changes
-- here; the migration keeps the two folders' versions in step, and the schema
-- test lists `user_search` as PostgreSQL's own, beside `users_fts` as SQLite's.
SELECT 1;

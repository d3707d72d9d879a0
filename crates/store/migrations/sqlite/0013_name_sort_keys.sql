-- Names sort as people read them (case and accents do not count: "van Dijk" beside "Vance").
-- The keys are computed in Rust (muster_domain::sort_key: NFKD, marks dropped, lowercased) by
-- every path that writes a user; rows older than this migration are filled at startup
-- (store::users::fill_name_keys), as SQL cannot strip accents. Byte order (SQLite's BINARY).
ALTER TABLE users ADD COLUMN first_name_key TEXT;
ALTER TABLE users ADD COLUMN last_name_key TEXT;
DROP INDEX users_first_name;
DROP INDEX users_last_name;
CREATE INDEX users_first_name_key ON users (first_name_key, id);
CREATE INDEX users_last_name_key ON users (last_name_key, id);

-- The grid sorts by Enabled through (enabled, id). The old (enabled,
-- auth_status, id) index served counts that user_counts answers now, and
-- misled SQLite's planner into sorting half a million rows for a page.
DROP INDEX users_enabled_status;
CREATE INDEX users_enabled ON users (enabled, id);

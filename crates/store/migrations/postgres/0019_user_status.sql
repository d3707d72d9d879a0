-- The columns a status change writes (enabled, auth_status, the lockout
-- counter, updated_at) move into a narrow table of their own, keyed by the
-- user's id. On the wide users row each status change was a new ~700-byte
-- tuple with new entries in all 13 of its indexes (no HOT update: enabled and
-- updated_at were indexed): 10.2 s for 25,392 rows at 100k (EXPLAIN ANALYZE,
-- BENCHMARKS.md, issue 11). Here a change is a ~60-byte tuple and three
-- narrow index entries. updated_at is not indexed: every status change writes
-- it; a sort or a range on it scans this narrow table instead.
CREATE TABLE user_status (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    enabled BIGINT NOT NULL DEFAULT 1,
    auth_status TEXT NOT NULL DEFAULT 'active',
    failed_login_count BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
INSERT INTO user_status (user_id, enabled, auth_status, failed_login_count, updated_at)
    SELECT id, enabled, auth_status, failed_login_count, updated_at FROM users ORDER BY id;
-- the grid sorted by Enabled or Status walks these (see 0008)
CREATE INDEX user_status_enabled ON user_status (enabled, user_id);
CREATE INDEX user_status_auth_status ON user_status (auth_status, user_id);
ANALYZE user_status;

-- The counters follow the columns (the counts themselves do not change).
DROP TRIGGER user_counts_insert ON users;
DROP TRIGGER user_counts_delete ON users;
DROP TRIGGER user_counts_update ON users;
DROP TRIGGER user_org_counts_update ON users;
DROP FUNCTION user_org_counts_status();

-- user_counts_apply() reads only enabled and auth_status of its transition
-- tables, which user_status has under the same names.
CREATE TRIGGER user_counts_insert AFTER INSERT ON user_status
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_counts_apply();
CREATE TRIGGER user_counts_delete AFTER DELETE ON user_status
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION user_counts_apply();
CREATE TRIGGER user_counts_update AFTER UPDATE ON user_status
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_counts_apply();

-- Members whose status row appears or goes: memberships written before the
-- status row are counted here (either order counts once). A user's deletion
-- removes the memberships first (user_org_counts_user_delete, BEFORE DELETE
-- ON users) and this row by cascade after, so a delete finds none then.
-- Rows whose status did not change add -1 and +1 to the same counter and drop
-- out in HAVING. (No join of old_rows with new_rows: transition tables carry
-- no statistics, and a nested loop over 25,000 × 25,000 rows took minutes.)
CREATE FUNCTION user_org_counts_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO user_org_counts (organization_id, enabled, auth_status, n)
            SELECT m.organization_id, s.enabled, s.auth_status, COUNT(*)
            FROM new_rows s JOIN user_organizations m ON m.user_id = s.user_id
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (organization_id, enabled, auth_status) DO UPDATE SET n = user_org_counts.n + EXCLUDED.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO user_org_counts (organization_id, enabled, auth_status, n)
            SELECT m.organization_id, s.enabled, s.auth_status, -COUNT(*)
            FROM old_rows s JOIN user_organizations m ON m.user_id = s.user_id
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (organization_id, enabled, auth_status) DO UPDATE SET n = user_org_counts.n + EXCLUDED.n;
    ELSE
        INSERT INTO user_org_counts (organization_id, enabled, auth_status, n)
            SELECT m.organization_id, d.enabled, d.auth_status, SUM(d.d)::BIGINT FROM (
                SELECT user_id, enabled, auth_status, -1 AS d FROM old_rows
                UNION ALL
                SELECT user_id, enabled, auth_status, 1 AS d FROM new_rows
            ) d JOIN user_organizations m ON m.user_id = d.user_id
            GROUP BY 1, 2, 3 HAVING SUM(d.d) <> 0 ORDER BY 1, 2, 3
            ON CONFLICT (organization_id, enabled, auth_status) DO UPDATE SET n = user_org_counts.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER user_org_counts_status_insert AFTER INSERT ON user_status
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_org_counts_status();
CREATE TRIGGER user_org_counts_status_delete AFTER DELETE ON user_status
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION user_org_counts_status();
CREATE TRIGGER user_org_counts_update AFTER UPDATE ON user_status
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_org_counts_status();

-- The memberships' trigger reads the member's status from its new place.
CREATE OR REPLACE FUNCTION user_org_counts_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO user_org_counts (organization_id, enabled, auth_status, n)
            SELECT m.organization_id, s.enabled, s.auth_status, COUNT(*)
            FROM new_rows m JOIN user_status s ON s.user_id = m.user_id
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (organization_id, enabled, auth_status) DO UPDATE SET n = user_org_counts.n + EXCLUDED.n;
    ELSE
        INSERT INTO user_org_counts (organization_id, enabled, auth_status, n)
            SELECT m.organization_id, s.enabled, s.auth_status, -COUNT(*)
            FROM old_rows m JOIN user_status s ON s.user_id = m.user_id
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (organization_id, enabled, auth_status) DO UPDATE SET n = user_org_counts.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;

-- The old columns' indexes (users_enabled, users_auth_status,
-- users_updated_at) go with them; PostgreSQL's drop rewrites nothing.
ALTER TABLE users DROP COLUMN enabled, DROP COLUMN auth_status, DROP COLUMN failed_login_count,
    DROP COLUMN updated_at;

-- The columns a status change writes (enabled, auth_status, the lockout
-- counter, updated_at) move into a narrow table of their own, keyed by the
-- user's id. A mass disable of 25,000 users rewrote nearly every page of the
-- ~700-byte users rows plus the enabled and updated_at indexes (1.09 s in
-- sqlite3); the same UPDATE on a narrow table took 0.11-0.26 s
-- (BENCHMARKS.md, issue 11). updated_at is not indexed: every status change
-- writes it, and an index on it would be one more B-tree entry moved per row;
-- a sort or a range on it scans this narrow table instead.
CREATE TABLE user_status (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
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

-- The counters follow the columns (the counts themselves do not change).
DROP TRIGGER user_counts_insert;
DROP TRIGGER user_counts_delete;
DROP TRIGGER user_counts_update;
DROP TRIGGER user_org_counts_user_update;
DROP TRIGGER user_org_counts_join;
DROP TRIGGER user_org_counts_leave;

CREATE TRIGGER user_counts_insert AFTER INSERT ON user_status BEGIN
    INSERT INTO user_counts (enabled, auth_status, n) VALUES (NEW.enabled, NEW.auth_status, 1)
        ON CONFLICT (enabled, auth_status) DO UPDATE SET n = n + 1;
    -- memberships written before the status row (either order counts once)
    INSERT INTO user_org_counts (organization_id, enabled, auth_status, n)
        SELECT organization_id, NEW.enabled, NEW.auth_status, 1 FROM user_organizations WHERE user_id = NEW.user_id
        ON CONFLICT (organization_id, enabled, auth_status) DO UPDATE SET n = n + 1;
END;

-- A user's deletion removes the memberships first (user_org_counts_user_delete,
-- BEFORE DELETE ON users) and this row by cascade after, so the second
-- statement finds no membership then.
CREATE TRIGGER user_counts_delete AFTER DELETE ON user_status BEGIN
    UPDATE user_counts SET n = n - 1 WHERE enabled = OLD.enabled AND auth_status = OLD.auth_status;
    UPDATE user_org_counts SET n = n - 1
        WHERE enabled = OLD.enabled AND auth_status = OLD.auth_status
          AND organization_id IN (SELECT organization_id FROM user_organizations WHERE user_id = OLD.user_id);
END;

CREATE TRIGGER user_counts_update AFTER UPDATE OF enabled, auth_status ON user_status
    WHEN OLD.enabled IS NOT NEW.enabled OR OLD.auth_status IS NOT NEW.auth_status
BEGIN
    UPDATE user_counts SET n = n - 1 WHERE enabled = OLD.enabled AND auth_status = OLD.auth_status;
    INSERT INTO user_counts (enabled, auth_status, n) VALUES (NEW.enabled, NEW.auth_status, 1)
        ON CONFLICT (enabled, auth_status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER user_org_counts_user_update AFTER UPDATE OF enabled, auth_status ON user_status
    WHEN OLD.enabled IS NOT NEW.enabled OR OLD.auth_status IS NOT NEW.auth_status
BEGIN
    UPDATE user_org_counts SET n = n - 1
        WHERE enabled = OLD.enabled AND auth_status = OLD.auth_status
          AND organization_id IN (SELECT organization_id FROM user_organizations WHERE user_id = OLD.user_id);
    INSERT INTO user_org_counts (organization_id, enabled, auth_status, n)
        SELECT organization_id, NEW.enabled, NEW.auth_status, 1 FROM user_organizations WHERE user_id = NEW.user_id
        ON CONFLICT (organization_id, enabled, auth_status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER user_org_counts_join AFTER INSERT ON user_organizations BEGIN
    INSERT INTO user_org_counts (organization_id, enabled, auth_status, n)
        SELECT NEW.organization_id, enabled, auth_status, 1 FROM user_status WHERE user_id = NEW.user_id
        ON CONFLICT (organization_id, enabled, auth_status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER user_org_counts_leave AFTER DELETE ON user_organizations BEGIN
    UPDATE user_org_counts SET n = n - 1
        WHERE organization_id = OLD.organization_id
          AND (enabled, auth_status) = (SELECT enabled, auth_status FROM user_status WHERE user_id = OLD.user_id);
END;

-- Each DROP COLUMN rewrites the users table once (SQLite has no metadata-only
-- drop): a one-time cost of this migration on an existing database.
DROP INDEX users_enabled;
DROP INDEX users_auth_status;
DROP INDEX users_updated_at;
ALTER TABLE users DROP COLUMN enabled;
ALTER TABLE users DROP COLUMN auth_status;
ALTER TABLE users DROP COLUMN failed_login_count;
ALTER TABLE users DROP COLUMN updated_at;

-- A mass enable/disable counts its own changes, one grouped statement per
-- counter table per batch (store::users::set_enabled_batch), instead of the
-- per-row triggers of 0019: in sqlite3 on 100,000 users the same UPDATE of
-- 22,379 status rows took 0.415 s with the two triggers and 0.081 s without
-- (BENCHMARKS.md, issue 11). SQLite has no statement-level triggers, so the
-- batch writes a row here, makes its change, counts it and deletes the row,
-- all in one transaction; the triggers stand aside while the row exists.
-- No other writer can see the row (SQLite has one writer, and a reader sees
-- only committed data), and a batch that fails rolls it back with the rest.
-- Inserts and deletes of status rows and memberships keep their triggers.
CREATE TABLE counter_bypass (
    held_since BIGINT NOT NULL
);

DROP TRIGGER user_counts_update;
DROP TRIGGER user_org_counts_user_update;

CREATE TRIGGER user_counts_update AFTER UPDATE OF enabled, auth_status ON user_status
    WHEN (OLD.enabled IS NOT NEW.enabled OR OLD.auth_status IS NOT NEW.auth_status)
        AND NOT EXISTS (SELECT 1 FROM counter_bypass)
BEGIN
    UPDATE user_counts SET n = n - 1 WHERE enabled = OLD.enabled AND auth_status = OLD.auth_status;
    INSERT INTO user_counts (enabled, auth_status, n) VALUES (NEW.enabled, NEW.auth_status, 1)
        ON CONFLICT (enabled, auth_status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER user_org_counts_user_update AFTER UPDATE OF enabled, auth_status ON user_status
    WHEN (OLD.enabled IS NOT NEW.enabled OR OLD.auth_status IS NOT NEW.auth_status)
        AND NOT EXISTS (SELECT 1 FROM counter_bypass)
BEGIN
    UPDATE user_org_counts SET n = n - 1
        WHERE enabled = OLD.enabled AND auth_status = OLD.auth_status
          AND organization_id IN (SELECT organization_id FROM user_organizations WHERE user_id = OLD.user_id);
    INSERT INTO user_org_counts (organization_id, enabled, auth_status, n)
        SELECT organization_id, NEW.enabled, NEW.auth_status, 1 FROM user_organizations WHERE user_id = NEW.user_id
        ON CONFLICT (organization_id, enabled, auth_status) DO UPDATE SET n = n + 1;
END;

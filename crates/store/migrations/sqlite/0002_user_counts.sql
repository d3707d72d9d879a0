-- Exact user counts per (enabled, auth_status), kept by triggers, so the
-- built-in views count a million users in O(1) instead of scanning an index.
CREATE TABLE user_counts (
    enabled BIGINT NOT NULL,
    auth_status TEXT NOT NULL,
    n BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (enabled, auth_status)
);
INSERT INTO user_counts (enabled, auth_status, n)
    SELECT enabled, auth_status, COUNT(*) FROM users GROUP BY enabled, auth_status;

CREATE TRIGGER user_counts_insert AFTER INSERT ON users BEGIN
    INSERT INTO user_counts (enabled, auth_status, n) VALUES (NEW.enabled, NEW.auth_status, 1)
        ON CONFLICT (enabled, auth_status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER user_counts_delete AFTER DELETE ON users BEGIN
    UPDATE user_counts SET n = n - 1 WHERE enabled = OLD.enabled AND auth_status = OLD.auth_status;
END;

CREATE TRIGGER user_counts_update AFTER UPDATE OF enabled, auth_status ON users
    WHEN OLD.enabled IS NOT NEW.enabled OR OLD.auth_status IS NOT NEW.auth_status
BEGIN
    UPDATE user_counts SET n = n - 1 WHERE enabled = OLD.enabled AND auth_status = OLD.auth_status;
    INSERT INTO user_counts (enabled, auth_status, n) VALUES (NEW.enabled, NEW.auth_status, 1)
        ON CONFLICT (enabled, auth_status) DO UPDATE SET n = n + 1;
END;

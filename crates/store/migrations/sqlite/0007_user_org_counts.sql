-- Exact user counts per organization and (enabled, auth_status), kept by
-- triggers, so a list scoped to one organization (an API key acts in one)
-- counts a built-in view in O(1) instead of visiting every member.
CREATE TABLE user_org_counts (
    organization_id BIGINT NOT NULL,
    enabled BIGINT NOT NULL,
    auth_status TEXT NOT NULL,
    n BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, enabled, auth_status)
);
INSERT INTO user_org_counts (organization_id, enabled, auth_status, n)
    SELECT m.organization_id, u.enabled, u.auth_status, COUNT(*)
    FROM user_organizations m JOIN users u ON u.id = m.user_id
    GROUP BY m.organization_id, u.enabled, u.auth_status;

CREATE TRIGGER user_org_counts_join AFTER INSERT ON user_organizations BEGIN
    INSERT INTO user_org_counts (organization_id, enabled, auth_status, n)
        SELECT NEW.organization_id, enabled, auth_status, 1 FROM users WHERE id = NEW.user_id
        ON CONFLICT (organization_id, enabled, auth_status) DO UPDATE SET n = n + 1;
END;

-- Reads the member's status, so it must run while the user row exists: a
-- user's own deletion removes their memberships first (the next trigger).
CREATE TRIGGER user_org_counts_leave AFTER DELETE ON user_organizations BEGIN
    UPDATE user_org_counts SET n = n - 1
        WHERE organization_id = OLD.organization_id
          AND (enabled, auth_status) = (SELECT enabled, auth_status FROM users WHERE id = OLD.user_id);
END;

CREATE TRIGGER user_org_counts_user_delete BEFORE DELETE ON users BEGIN
    DELETE FROM user_organizations WHERE user_id = OLD.id;
END;

CREATE TRIGGER user_org_counts_user_update AFTER UPDATE OF enabled, auth_status ON users
    WHEN OLD.enabled IS NOT NEW.enabled OR OLD.auth_status IS NOT NEW.auth_status
BEGIN
    UPDATE user_org_counts SET n = n - 1
        WHERE enabled = OLD.enabled AND auth_status = OLD.auth_status
          AND organization_id IN (SELECT organization_id FROM user_organizations WHERE user_id = OLD.id);
    INSERT INTO user_org_counts (organization_id, enabled, auth_status, n)
        SELECT organization_id, NEW.enabled, NEW.auth_status, 1 FROM user_organizations WHERE user_id = NEW.id
        ON CONFLICT (organization_id, enabled, auth_status) DO UPDATE SET n = n + 1;
END;

-- Exact user counts per organization and (enabled, auth_status), so a list
-- scoped to one organization (an API key acts in one) counts a built-in view
-- in O(1) instead of visiting every member. Statement-level triggers, as for
-- user_counts: a mass action over 100,000 users applies one grouped delta.
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

-- Reads the members' status, so it must run while the user rows exist: a
-- user's own deletion removes their memberships first (user_org_counts_user_delete).
CREATE FUNCTION user_org_counts_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO user_org_counts (organization_id, enabled, auth_status, n)
            SELECT m.organization_id, u.enabled, u.auth_status, COUNT(*)
            FROM new_rows m JOIN users u ON u.id = m.user_id
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (organization_id, enabled, auth_status) DO UPDATE SET n = user_org_counts.n + EXCLUDED.n;
    ELSE
        INSERT INTO user_org_counts (organization_id, enabled, auth_status, n)
            SELECT m.organization_id, u.enabled, u.auth_status, -COUNT(*)
            FROM old_rows m JOIN users u ON u.id = m.user_id
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (organization_id, enabled, auth_status) DO UPDATE SET n = user_org_counts.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER user_org_counts_join AFTER INSERT ON user_organizations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_org_counts_members();
CREATE TRIGGER user_org_counts_leave AFTER DELETE ON user_organizations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION user_org_counts_members();

CREATE FUNCTION user_org_counts_user_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM user_organizations WHERE user_id = OLD.id;
    RETURN OLD;
END $$;
CREATE TRIGGER user_org_counts_user_delete BEFORE DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION user_org_counts_user_delete();

-- Rows whose status did not change add -1 and +1 to the same counter and drop
-- out in HAVING. (No join of old_rows with new_rows: transition tables carry
-- no statistics, and a nested loop over 25,000 × 25,000 rows took minutes.)
CREATE FUNCTION user_org_counts_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_org_counts (organization_id, enabled, auth_status, n)
        SELECT m.organization_id, d.enabled, d.auth_status, SUM(d.d)::BIGINT FROM (
            SELECT id, enabled, auth_status, -1 AS d FROM old_rows
            UNION ALL
            SELECT id, enabled, auth_status, 1 AS d FROM new_rows
        ) d JOIN user_organizations m ON m.user_id = d.id
        GROUP BY 1, 2, 3 HAVING SUM(d.d) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (organization_id, enabled, auth_status) DO UPDATE SET n = user_org_counts.n + EXCLUDED.n;
    RETURN NULL;
END $$;
CREATE TRIGGER user_org_counts_update AFTER UPDATE ON users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_org_counts_status();

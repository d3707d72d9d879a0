-- Exact user counts per (enabled, auth_status), kept by statement-level
-- triggers (one counter update per statement, not per row, so a mass action
-- over 100,000 users touches each counter once), so the built-in views count
-- a million users in O(1). Deltas are applied in one ordered statement so two
-- transactions lock the counters in the same order.
CREATE TABLE user_counts (
    enabled BIGINT NOT NULL,
    auth_status TEXT NOT NULL,
    n BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (enabled, auth_status)
);
INSERT INTO user_counts (enabled, auth_status, n)
    SELECT enabled, auth_status, COUNT(*) FROM users GROUP BY enabled, auth_status;

CREATE FUNCTION user_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO user_counts (enabled, auth_status, n)
            SELECT enabled, auth_status, COUNT(*) FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (enabled, auth_status) DO UPDATE SET n = user_counts.n + EXCLUDED.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO user_counts (enabled, auth_status, n)
            SELECT enabled, auth_status, -COUNT(*) FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (enabled, auth_status) DO UPDATE SET n = user_counts.n + EXCLUDED.n;
    ELSE
        INSERT INTO user_counts (enabled, auth_status, n)
            SELECT enabled, auth_status, SUM(d)::BIGINT FROM (
                SELECT enabled, auth_status, -1 AS d FROM old_rows
                UNION ALL
                SELECT enabled, auth_status, 1 AS d FROM new_rows
            ) delta GROUP BY 1, 2 HAVING SUM(d) <> 0 ORDER BY 1, 2
            ON CONFLICT (enabled, auth_status) DO UPDATE SET n = user_counts.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER user_counts_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_counts_apply();
CREATE TRIGGER user_counts_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION user_counts_apply();
CREATE TRIGGER user_counts_update AFTER UPDATE ON users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_counts_apply();

-- Login attempts per hour, per outcome, for the dashboard's charts: read in
-- O(hours) instead of counting a week of login_attempts (10M rows at scale).
-- `hour` is the attempt's `at` (unix ms, UTC) rounded down to the hour.
-- `organization_id` 0 counts every attempt (unknown usernames too); a row per
-- organization counts the attempts of its members, as they were members at
-- the time of the attempt. `outcome` is `success` or `failure`; a failure
-- that locked the account also counts once as `lockout` (its reason, written
-- by services::auth::record_failure, ends with "account locked").
CREATE TABLE login_attempt_hours (
    hour BIGINT NOT NULL,
    organization_id BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    n BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, organization_id, outcome)
);

INSERT INTO login_attempt_hours (hour, organization_id, outcome, n)
    SELECT hour, org, outcome, COUNT(*) FROM (
        SELECT at - at % 3600000 AS hour, 0 AS org,
               CASE WHEN success = 1 THEN 'success' ELSE 'failure' END AS outcome
        FROM login_attempts
        UNION ALL
        SELECT a.at - a.at % 3600000, m.organization_id,
               CASE WHEN a.success = 1 THEN 'success' ELSE 'failure' END
        FROM login_attempts a JOIN user_organizations m ON m.user_id = a.user_id
        UNION ALL
        SELECT at - at % 3600000, 0, 'lockout'
        FROM login_attempts WHERE success = 0 AND reason LIKE '%account locked'
        UNION ALL
        SELECT a.at - a.at % 3600000, m.organization_id, 'lockout'
        FROM login_attempts a JOIN user_organizations m ON m.user_id = a.user_id
        WHERE a.success = 0 AND a.reason LIKE '%account locked'
    ) d GROUP BY hour, org, outcome;

-- In the attempt's own transaction: a sign-in and its count commit together.
-- (`WHERE 1 = 1` before ON CONFLICT: SQLite's parser needs a WHERE there.)
CREATE TRIGGER login_attempt_hours_count AFTER INSERT ON login_attempts BEGIN
    INSERT INTO login_attempt_hours (hour, organization_id, outcome, n)
        SELECT NEW.at - NEW.at % 3600000, 0, CASE WHEN NEW.success = 1 THEN 'success' ELSE 'failure' END, 1
        WHERE 1 = 1
        ON CONFLICT (hour, organization_id, outcome) DO UPDATE SET n = n + 1;
    INSERT INTO login_attempt_hours (hour, organization_id, outcome, n)
        SELECT NEW.at - NEW.at % 3600000, organization_id,
               CASE WHEN NEW.success = 1 THEN 'success' ELSE 'failure' END, 1
        FROM user_organizations WHERE user_id = NEW.user_id
        ON CONFLICT (hour, organization_id, outcome) DO UPDATE SET n = n + 1;
    INSERT INTO login_attempt_hours (hour, organization_id, outcome, n)
        SELECT NEW.at - NEW.at % 3600000, 0, 'lockout', 1
        WHERE NEW.success = 0 AND NEW.reason LIKE '%account locked'
        ON CONFLICT (hour, organization_id, outcome) DO UPDATE SET n = n + 1;
    INSERT INTO login_attempt_hours (hour, organization_id, outcome, n)
        SELECT NEW.at - NEW.at % 3600000, organization_id, 'lockout', 1
        FROM user_organizations
        WHERE user_id = NEW.user_id AND NEW.success = 0 AND NEW.reason LIKE '%account locked'
        ON CONFLICT (hour, organization_id, outcome) DO UPDATE SET n = n + 1;
END;

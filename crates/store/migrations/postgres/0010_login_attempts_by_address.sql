-- The per-address pause of failed web sign-ins counts the recent failures of one
-- address (login_attempts::nth_recent_web_failure); only failed web attempts are indexed.
CREATE INDEX login_attempts_web_failures ON login_attempts (ip, at) WHERE success = 0 AND source = 'web';

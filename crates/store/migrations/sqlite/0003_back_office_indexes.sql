-- The back-office's lists: the grid sorted by status, and the audit log and
-- login attempts filtered by a username in any case (newest first).
CREATE INDEX users_auth_status ON users (auth_status, id);
CREATE INDEX audit_events_target_lc ON audit_events (lower(target_username), at);
CREATE INDEX audit_events_actor_lc ON audit_events (lower(actor_username), at);
CREATE INDEX login_attempts_username_lc ON login_attempts (lower(username), at);

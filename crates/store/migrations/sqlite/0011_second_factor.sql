-- The second factor (issue 17). One row per factor; `kind` is 'totp' today, so a
-- passkey kind can join later without a new table. A TOTP row is unconfirmed
-- (confirmed_at NULL) from the enrolment page until the first code is entered.
-- `last_step` is the last accepted 30-second step: a code is accepted only for
-- a newer step (no replay), in one conditional UPDATE.
CREATE TABLE second_factors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    secret TEXT NOT NULL,
    last_step BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    confirmed_at BIGINT
);
-- One authenticator app per user; other kinds may have several rows.
CREATE UNIQUE INDEX second_factors_one_totp ON second_factors (user_id) WHERE kind = 'totp';

-- Single-use recovery codes, stored as SHA-256 (80 random bits each).
CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at BIGINT
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id, code_hash);

-- A password that was right, waiting for the second step: no session exists
-- yet. In the database (not in memory) so that any instance behind a balancer
-- can take the next request; the cookie holds a random id, the row its SHA-256.
-- `stage` is 'code' (asks for a code) or 'enrol' (the role requires a factor
-- the user has not set up). `password_hash_sha256` ends it if the password changes.
CREATE TABLE pending_sign_ins (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    password_hash_sha256 TEXT NOT NULL,
    next TEXT NOT NULL DEFAULT '',
    wrong_codes BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pending_sign_ins_user ON pending_sign_ins (user_id);
CREATE INDEX pending_sign_ins_expires ON pending_sign_ins (expires_at);

-- Which step of a sign-in an attempt ended at: 'password' or 'second_factor'.
ALTER TABLE login_attempts ADD COLUMN step TEXT NOT NULL DEFAULT 'password';

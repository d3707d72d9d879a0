-- Passkeys (issue 17): a passkey is a `second_factors` row of kind 'passkey'
-- (confirmed when stored), `secret` holding the credential as webauthn-rs
-- serialises it (public key, counter; no private key ever reaches the server).
-- A user may have several: `name` tells them apart on the profile, and
-- `credential_id` (base64url) finds the row of a discoverable sign-in and keeps
-- one credential from being registered to two accounts.
ALTER TABLE second_factors ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE second_factors ADD COLUMN credential_id TEXT;
CREATE UNIQUE INDEX second_factors_credential ON second_factors (credential_id) WHERE credential_id IS NOT NULL;

-- A WebAuthn ceremony between its options and its answer: the challenge state
-- (serialised by webauthn-rs) kept in the database, so that any instance behind
-- a balancer takes the answer. `owner_hash` is the SHA-256 of the cookie it is
-- bound to (the session, the pending sign-in, or the anonymous passkey sign-in
-- cookie); `purpose` is 'register', 'second_step' or 'sign_in'. One ceremony per
-- owner and purpose; the answer deletes the row (used once), and it expires in
-- minutes.
CREATE TABLE passkey_ceremonies (
    owner_hash TEXT NOT NULL,
    purpose TEXT NOT NULL,
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (owner_hash, purpose)
);
CREATE INDEX passkey_ceremonies_expires ON passkey_ceremonies (expires_at);

-- A job that must not start before a time (a reset of those still on an
-- imported password scheme, scheduled for a date): claimed only from then on.
ALTER TABLE jobs ADD COLUMN not_before BIGINT;

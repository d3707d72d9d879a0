-- Where a running job got to (its own JSON), so a worker that takes over an
-- expired lease can resume instead of starting again.
ALTER TABLE jobs ADD COLUMN checkpoint TEXT;
CREATE INDEX jobs_kind ON jobs (kind, id);

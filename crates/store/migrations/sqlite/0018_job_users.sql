-- The users a mass job acts on, fixed when it was asked for (users added later
-- are not touched), and what the job did to each. A row's outcome is written in
-- the same transaction as that user's change and the job's checkpoint, so a job
-- taken over after a crash neither skips nor repeats anyone.
CREATE TABLE job_users (
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL,
    outcome TEXT,
    PRIMARY KEY (job_id, user_id)
) WITHOUT ROWID;

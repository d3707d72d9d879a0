-- An import's upload kept between its dry run and Apply, so the admin chooses the file once.
-- Bound to the admin who uploaded it; it expires, and Apply takes it (DELETE … RETURNING).
-- In the database rather than the data dir: instances sharing one PostgreSQL serve either request.
CREATE TABLE import_uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    filename TEXT NOT NULL DEFAULT '',
    body BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX import_uploads_owner ON import_uploads (owner_id);
CREATE INDEX import_uploads_expires ON import_uploads (expires_at);

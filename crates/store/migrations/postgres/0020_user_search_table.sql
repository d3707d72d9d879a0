-- The search's own narrow table: the id and the search text of each user, with
-- the trigram index on it. The index's candidates were rechecked against the
-- 700 MB users heap ("smith" at a million users: 16,601 heap blocks read for
-- 19,839 matches, 354 ms on a 128 MB shared_buffers); here the rows are ~60 MB
-- and stay in cache, and a page in id order walks this table's primary key,
-- joining users only for the rows it shows (BENCHMARKS.md, "PostgreSQL search
-- and seed"). `users.search_text` stays the source every writer fills
-- (store::users::Stored); the triggers below copy it here, so the writers
-- (create, profile update, import, delete) follow without code of their own,
-- like the FTS5 triggers on SQLite. No foreign key: the delete trigger removes
-- the row, and the seed (which drops these triggers and fills the table in one
-- statement, store::seed) needs no check per row.
CREATE TABLE user_search (
    user_id BIGINT PRIMARY KEY,
    search_text TEXT NOT NULL
);
INSERT INTO user_search (user_id, search_text) SELECT id, search_text FROM users;
CREATE INDEX user_search_trgm ON user_search USING gin (search_text gin_trgm_ops);
DROP INDEX users_search_trgm;

-- Inserts and deletes per statement (an import or a seed of many rows is one
-- INSERT … SELECT from the transition table); an update per row, and only when
-- the text changed (transition tables cannot go with a column list, and a mass
-- enable/disable must not fire anything here).
CREATE FUNCTION user_search_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO user_search (user_id, search_text) SELECT id, search_text FROM new_rows;
    ELSE
        DELETE FROM user_search WHERE user_id IN (SELECT id FROM old_rows);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION user_search_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE user_search SET search_text = NEW.search_text WHERE user_id = NEW.id;
    RETURN NULL;
END $$;

CREATE TRIGGER user_search_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_search_follow();
CREATE TRIGGER user_search_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION user_search_follow();
CREATE TRIGGER user_search_update AFTER UPDATE OF search_text ON users
    FOR EACH ROW WHEN (OLD.search_text IS DISTINCT FROM NEW.search_text) EXECUTE FUNCTION user_search_update();

-- The grid's search ("contains", in names, username and email) through a
-- trigram index: `search_text LIKE '%smith%'` is answered from the index
-- instead of a scan of every row. pg_trgm ships with PostgreSQL (contrib) and
-- is a trusted extension: a database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_search_trgm ON users USING gin (search_text gin_trgm_ops);

-- The body is written once and never changes, but it sat in the confirmation's row: every claim
-- and outcome writes a new row version (state and due_at are indexed, so PostgreSQL cannot update
-- in place), and each copied the ~600-byte body into the heap and the WAL again. It moves to its
-- own append-only table, partitioned by the same weekly id ranges as `confirmations`, so that
-- retention drops a week of bodies with its confirmations (docs/benchmarks.md, "levers").
CREATE TABLE confirmation_bodies (
  id   TEXT COLLATE "C" NOT NULL,  -- the confirmation's id
  body TEXT NOT NULL,              -- exact bytes sent on every attempt
  PRIMARY KEY (id)
) PARTITION BY RANGE (id);
CREATE TABLE confirmation_bodies_default PARTITION OF confirmation_bodies DEFAULT;

-- One partition per existing week of confirmations, with the same bounds (the store's maintenance
-- creates the weeks ahead for both tables from now on).
DO $$
DECLARE p record;
BEGIN
  FOR p IN
    SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'confirmations'::regclass AND c.relname LIKE 'confirmations\_w%'
  LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF confirmation_bodies %s',
      'confirmation_bodies_w' || substr(p.relname, length('confirmations_w') + 1), p.bound);
  END LOOP;
END $$;

INSERT INTO confirmation_bodies (id, body) SELECT id, body FROM confirmations;
ALTER TABLE confirmations DROP COLUMN body;

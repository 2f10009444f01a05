-- Transaction ids are unique per merchant, not across merchants (issue 13, "ids across
-- merchants"): with one global key, a merchant creating an id another merchant had used got 409
-- transaction_exists, learning that id, and could take an id before its owner did. A transaction
-- is now (id, merchant_id); id first, so the admin's lookup by id alone reads the key's prefix.
-- Both tables are rebuilt as 0004 rebuilt them (SQLite cannot change a key in place), with every
-- index they had; creating the indexes reads each table once.

CREATE TABLE transactions_new (
  id          TEXT NOT NULL,
  merchant_id TEXT NOT NULL REFERENCES merchants(id),
  reference   TEXT NOT NULL,
  amount      TEXT NOT NULL,
  currency    TEXT NOT NULL,
  status      TEXT NOT NULL,
  customer    TEXT,                -- JSON
  metadata    TEXT,                -- JSON
  last_seq    INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (id, merchant_id)
) STRICT, WITHOUT ROWID;
INSERT INTO transactions_new (id, merchant_id, reference, amount, currency, status, customer, metadata, last_seq,
    created_at, updated_at)
  SELECT id, merchant_id, reference, amount, currency, status, customer, metadata, last_seq, created_at, updated_at
  FROM transactions;
DROP TABLE transactions;
ALTER TABLE transactions_new RENAME TO transactions;
CREATE INDEX transactions_reference ON transactions(reference, merchant_id);
-- Its entries carry the key too, so a retention scan resumes at (created_at, id, merchant_id).
CREATE INDEX transactions_created ON transactions(created_at);

-- A transaction's confirmations are (transaction_id, merchant_id, seq): seq counts per transaction
-- of one merchant. The unique index serves every lookup of one transaction's confirmations.
CREATE TABLE confirmations_new (
  id             TEXT PRIMARY KEY,  -- also the webhook-id
  transaction_id TEXT NOT NULL,
  merchant_id    TEXT NOT NULL,
  seq            INTEGER NOT NULL,
  type           TEXT NOT NULL,
  state          TEXT NOT NULL,
  format         TEXT NOT NULL DEFAULT 'standard',
  due_at         INTEGER,           -- pending: next attempt; inflight: lease end
  lease_token    INTEGER NOT NULL DEFAULT 0,
  tries          INTEGER NOT NULL DEFAULT 0,
  attempts       INTEGER NOT NULL DEFAULT 0,
  last_error     TEXT,
  delivered_at   INTEGER,
  created_at     INTEGER NOT NULL,
  UNIQUE (transaction_id, merchant_id, seq)
) STRICT, WITHOUT ROWID;
INSERT INTO confirmations_new (id, transaction_id, merchant_id, seq, type, state, format, due_at, lease_token, tries,
    attempts, last_error, delivered_at, created_at)
  SELECT id, transaction_id, merchant_id, seq, type, state, format, due_at, lease_token, tries,
    attempts, last_error, delivered_at, created_at FROM confirmations;
DROP TABLE confirmations;
ALTER TABLE confirmations_new RENAME TO confirmations;
CREATE INDEX confirmations_due ON confirmations(due_at) WHERE state IN ('pending', 'inflight');
-- Pending rows only (0005): lapsed leases come back through confirmations_due.
CREATE INDEX confirmations_merchant_due ON confirmations(merchant_id, due_at) WHERE state = 'pending';
CREATE INDEX confirmations_merchant_state ON confirmations(merchant_id, state, id);

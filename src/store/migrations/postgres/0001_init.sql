-- Confirma schema for PostgreSQL. Same tables and states as the SQLite schema; times are epoch
-- milliseconds (BIGINT). JSON columns are TEXT on purpose: the stored text is returned byte for
-- byte (jsonb would reorder keys), and nothing queries inside it.

CREATE TABLE merchants (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  url             TEXT NOT NULL,
  format          TEXT NOT NULL DEFAULT 'standard',
  max_in_flight   INTEGER,
  timeout_ms      INTEGER,
  retry_schedule  TEXT,            -- JSON array of seconds, NULL = global default
  disabled_at     BIGINT,
  disabled_reason TEXT,
  created_at      BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL
);

-- Signing secrets: the newest (highest id) is current; older ones sign until expires_at.
CREATE TABLE merchant_secrets (
  id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  merchant_id TEXT NOT NULL REFERENCES merchants(id),
  secret      TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  expires_at  BIGINT            -- NULL while current
);
CREATE INDEX merchant_secrets_merchant ON merchant_secrets(merchant_id, id);

-- API keys, stored only as SHA-256 hashes. merchant_id NULL = admin key.
CREATE TABLE api_keys (
  id          TEXT PRIMARY KEY,
  merchant_id TEXT REFERENCES merchants(id),
  prefix      TEXT NOT NULL,
  hash        TEXT NOT NULL UNIQUE,
  created_at  BIGINT NOT NULL,
  revoked_at  BIGINT
);

CREATE TABLE transactions (
  id          TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL REFERENCES merchants(id),
  reference   TEXT NOT NULL,
  amount      TEXT NOT NULL,
  currency    TEXT NOT NULL,
  status      TEXT NOT NULL,
  customer    TEXT,                -- JSON
  metadata    TEXT,                -- JSON
  last_seq    INTEGER NOT NULL,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL
);
CREATE INDEX transactions_merchant_reference ON transactions(merchant_id, reference);

-- confirmations and attempts are range-partitioned by confirmation id, which starts with its
-- creation time (see domain/ids.ts): one partition per week, created ahead by the store's
-- maintenance (pg-partitions.ts), dropped by retention once it holds nothing but delivered rows.
-- An attempt lives in the partition of its confirmation, so a week goes away in one piece.
-- Ids use the "C" collation so that ranges, cursors and ORDER BY follow byte order, as in SQLite.
CREATE TABLE confirmations (
  id             TEXT COLLATE "C" NOT NULL,  -- also the webhook-id; sorts by creation time
  transaction_id TEXT NOT NULL,
  merchant_id    TEXT NOT NULL,
  seq            INTEGER NOT NULL,
  type           TEXT NOT NULL,
  state          TEXT NOT NULL,
  body           TEXT NOT NULL,     -- exact bytes sent on every attempt
  due_at         BIGINT,            -- pending: next attempt; inflight: lease end
  lease_token    INTEGER NOT NULL DEFAULT 0,
  tries          INTEGER NOT NULL DEFAULT 0,
  attempts       INTEGER NOT NULL DEFAULT 0,
  last_error     TEXT,
  delivered_at   BIGINT,
  created_at     BIGINT NOT NULL,
  PRIMARY KEY (id)
) PARTITION BY RANGE (id);
-- Rows outside every weekly partition land here (it stays empty while maintenance runs).
CREATE TABLE confirmations_default PARTITION OF confirmations DEFAULT;
-- (transaction_id, seq) is unique by construction (seq is assigned under the transaction's row
-- lock); a unique index would have to include the partition key, so this one is plain.
CREATE INDEX confirmations_transaction_seq ON confirmations(transaction_id, seq);
-- The queue path: only rows that may be claimed are in these indexes, so they stay small.
CREATE INDEX confirmations_due ON confirmations(due_at) WHERE state IN ('pending', 'inflight');
CREATE INDEX confirmations_merchant_due ON confirmations(merchant_id, due_at) WHERE state IN ('pending', 'inflight');
CREATE INDEX confirmations_merchant_state ON confirmations(merchant_id, state, id);
CREATE INDEX confirmations_state_id ON confirmations(state, id);

CREATE TABLE attempts (
  id               BIGINT GENERATED ALWAYS AS IDENTITY,
  confirmation_id  TEXT COLLATE "C" NOT NULL,
  number           INTEGER NOT NULL,
  started_at       BIGINT NOT NULL,
  duration_ms      INTEGER NOT NULL,
  status_code      INTEGER,
  error_kind       TEXT,
  error_message    TEXT,
  response_snippet TEXT,
  outcome          TEXT NOT NULL
) PARTITION BY RANGE (confirmation_id);
CREATE TABLE attempts_default PARTITION OF attempts DEFAULT;
CREATE INDEX attempts_confirmation ON attempts(confirmation_id, number);

CREATE TABLE idempotency_keys (
  scope          TEXT NOT NULL,
  key            TEXT NOT NULL,
  request_hash   TEXT NOT NULL,
  transaction_id TEXT NOT NULL,
  http_status    INTEGER NOT NULL,
  response       TEXT NOT NULL,     -- JSON of the first answer, returned again on replay
  created_at     BIGINT NOT NULL,
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);

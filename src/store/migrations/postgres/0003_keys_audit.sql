-- Named API keys (admin keys too: merchant_id NULL) and the audit log, as sqlite/0003_keys_audit.sql.
ALTER TABLE api_keys ADD COLUMN name TEXT;

CREATE TABLE audit_log (
  id      BIGSERIAL PRIMARY KEY,
  at      BIGINT NOT NULL,
  actor   TEXT NOT NULL,
  action  TEXT NOT NULL,
  target  TEXT NOT NULL,
  details TEXT              -- JSON as text (returned byte for byte); never a secret or key
);

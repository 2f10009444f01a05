-- Named API keys (admin keys too: merchant_id NULL) and the audit log.
ALTER TABLE api_keys ADD COLUMN name TEXT;

CREATE TABLE audit_log (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  at      INTEGER NOT NULL,
  actor   TEXT NOT NULL,
  action  TEXT NOT NULL,
  target  TEXT NOT NULL,
  details TEXT              -- JSON; never a secret or key
) STRICT;

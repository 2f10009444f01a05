-- Retention of transactions and idempotency keys (CONFIRMA_TRANSACTION_RETENTION_DAYS,
-- CONFIRMA_RETENTION_DAYS): each pass walks them by creation time. A transaction's created_at never
-- changes, so a status change does not move its entry; a new one lands at the index's right edge.
CREATE INDEX transactions_created ON transactions(created_at);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);

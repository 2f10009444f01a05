-- Retention of transactions (CONFIRMA_TRANSACTION_RETENTION_DAYS) walks them by creation time,
-- with the id to resume a scan. created_at never changes, so status changes can still update a
-- transaction's row in place (HOT). Idempotency keys already have their index on created_at.
CREATE INDEX transactions_created ON transactions(created_at, id);

-- Transaction ids are unique per merchant, not across merchants (issue 13, "ids across
-- merchants"), as sqlite/0007_ids_per_merchant.sql: a transaction is (id, merchant_id); id first,
-- so the admin's lookup by id alone reads the key's prefix, and every statement about one
-- transaction names both columns.
--
-- The new key is built while this migration holds the table (ACCESS EXCLUSIVE): on a big table
-- run `confirma migrate` at a quiet hour (docs/deployment.md). Nodes of the previous release write
-- `ON CONFLICT (id)`, which needs the old key: stop them before migrating, do not mix releases.
ALTER TABLE transactions DROP CONSTRAINT transactions_pkey, ADD PRIMARY KEY (id, merchant_id);

-- confirmations keeps its plain (transaction_id, seq) index: (transaction_id, merchant_id, seq) is
-- unique by construction (seq is assigned under the transaction's row lock), a unique index on a
-- partitioned table would have to hold the partition key (id) anyway, and rebuilding an index over
-- every kept confirmation would hold ingest for far longer than the key above. A lookup of one
-- transaction's confirmations finds its id in the index and filters on merchant_id: it reads
-- another merchant's rows only when both use the id, which generated ids (tx_…) never do.
--
-- transactions_created (created_at, id) stays too: a retention scan resumes at (created_at, id,
-- merchant_id), whose prefix the index gives in order.

-- Payload formats per merchant (issue 6), as sqlite/0002_formats.sql: the ePayco credentials, the
-- format each confirmation's body was built in, and a lookup of transactions by reference.

-- p_cust_id_cliente in clear; p_key sealed with the master key (v1.<keyId>.<iv>.<ciphertext>),
-- never returned by the API. Both NULL until given.
ALTER TABLE merchants ADD COLUMN epayco_cust_id TEXT;
ALTER TABLE merchants ADD COLUMN epayco_p_key_sealed TEXT;

-- The body is built once at ingest in the merchant's format of that moment; the dispatcher sends
-- it in that same format even if the merchant's format changes later. confirmations is
-- partitioned: the column is added on the parent and PostgreSQL adds it to every partition
-- (default and weekly ones alike, existing rows get the default); partitions created later by
-- pg-partitions.ts take the parent's columns.
ALTER TABLE confirmations ADD COLUMN format TEXT NOT NULL DEFAULT 'standard';

-- GET /v1/transactions?reference=… without a merchantId (admin): (merchant_id, reference) from
-- 0001 serves the scoped lookup.
CREATE INDEX transactions_reference ON transactions(reference);

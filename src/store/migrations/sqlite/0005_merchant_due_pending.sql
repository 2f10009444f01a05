-- The per-merchant queue index holds only pending rows. It held inflight rows too, so that a lane
-- could take back a lapsed lease of its merchant; but on one SQLite node a lease lapses only after
-- a crash (or an outcome that failed to commit), and the queue scan (`claimDue`, through
-- `confirmations_due`, which still holds both states) takes those back at start-up and on every
-- poll. Every row claimed at insert went into this index and came out again with its outcome: two
-- page writes per confirmation in a merchant's part of the index. Without them a 40-op ingest
-- commit writes 104 WAL pages instead of 166, and a delivered outcome 0.27 instead of 0.44
-- (docs/benchmarks.md). Creating the index reads the table once.
DROP INDEX confirmations_merchant_due;
CREATE INDEX confirmations_merchant_due ON confirmations(merchant_id, due_at) WHERE state = 'pending';

-- Fewer index entries per confirmation (docs/benchmarks.md, "levers"). A claim or an outcome
-- changes `state` and `due_at`, so PostgreSQL writes a new row version with an entry in every index
-- whose predicate it matches (no HOT update). Two of those entries were never read:
--
-- 1. The per-merchant queue held in-flight rows too, for a lane to take back a lapsed lease of its
--    merchant. The queue scan (`claimDue`, through `confirmations_due`, which keeps both states)
--    takes lapsed leases back on every poll, as it does on SQLite since its migration 0005; so the
--    per-merchant queue holds pending rows only, and a claim no longer adds an entry to it.
-- 2. `(state, id)` answered counts of the open states, lists by state across merchants and the
--    retention of delivered rows. Delivered is where every row ends, so each outcome added an entry
--    there; the index now holds only the other states, and retention walks the primary key (ids
--    sort by creation time), as on SQLite.
DROP INDEX confirmations_merchant_due;
CREATE INDEX confirmations_merchant_due ON confirmations(merchant_id, due_at) WHERE state = 'pending';
DROP INDEX confirmations_state_id;
CREATE INDEX confirmations_state_id ON confirmations(state, id) WHERE state <> 'delivered';

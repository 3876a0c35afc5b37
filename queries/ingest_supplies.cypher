// Supply-chain records (invoices), aggregated per supplier-buyer pair and added to SUPPLIES.
// Not idempotent by itself: guanxi ingest runs it once per batch, guarded by the ledger.
// $rows: [{source, target, count, amount, amount_max, round_count, first_ms, last_ms}]
UNWIND $rows AS r
MATCH (s:Merchant {id: r.source})
MATCH (b:Merchant {id: r.target})
MERGE (s)-[x:SUPPLIES]->(b)
ON CREATE SET x.count = 0, x.amount = 0.0, x.round_count = 0
SET x.count = x.count + r.count,
    x.amount = x.amount + r.amount,
    x.amount_max = CASE WHEN x.amount_max > r.amount_max THEN x.amount_max ELSE r.amount_max END,
    x.round_count = x.round_count + r.round_count,
    x.first_ts = CASE WHEN x.first_ts < datetime({epochMillis: r.first_ms}) THEN x.first_ts
                      ELSE datetime({epochMillis: r.first_ms}) END,
    x.last_ts = CASE WHEN x.last_ts > datetime({epochMillis: r.last_ms}) THEN x.last_ts
                     ELSE datetime({epochMillis: r.last_ms}) END

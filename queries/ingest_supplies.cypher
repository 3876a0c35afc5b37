// Supply-chain records (invoices), aggregated per (source supplier, target buyer) and
// added to SUPPLIES. Not idempotent by itself: guanxi ingest runs it once per batch,
// guarded by the ledger. Properties as graph/model.py lists them for SUPPLIES.
// $rows: [{source, target, first_ms, last_ms, add: {count, amount, round_count},
//          max: {amount_max}}]
UNWIND $rows AS r
MATCH (s:Merchant {id: r.source})
MATCH (b:Merchant {id: r.target})
MERGE (s)-[x:SUPPLIES]->(b)
ON CREATE SET x = r.add, x += r.max,
              x.first_ts = datetime({epochMillis: r.first_ms}),
              x.last_ts = datetime({epochMillis: r.last_ms})
ON MATCH SET x.count = x.count + r.add.count,
             x.amount = x.amount + r.add.amount,
             x.round_count = x.round_count + r.add.round_count,
             x.amount_max = CASE WHEN x.amount_max > r.max.amount_max THEN x.amount_max
                                 ELSE r.max.amount_max END,
             x.first_ts = CASE WHEN x.first_ts < datetime({epochMillis: r.first_ms})
                               THEN x.first_ts ELSE datetime({epochMillis: r.first_ms}) END,
             x.last_ts = CASE WHEN x.last_ts > datetime({epochMillis: r.last_ms})
                              THEN x.last_ts ELSE datetime({epochMillis: r.last_ms}) END

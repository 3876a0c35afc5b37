// Logistics records (shipments), aggregated per (source shipper, target receiver) and
// added to SHIPPED_TO. Not idempotent by itself: guanxi ingest runs it once per batch,
// guarded by the ledger. Properties as graph/model.py lists them for SHIPPED_TO.
// $rows: [{source, target, first_ms, last_ms, add: {count, weight_kg}, max: {}}]
UNWIND $rows AS r
MATCH (s:Merchant {id: r.source})
MATCH (b:Merchant {id: r.target})
MERGE (s)-[x:SHIPPED_TO]->(b)
ON CREATE SET x = r.add,
              x.first_ts = datetime({epochMillis: r.first_ms}),
              x.last_ts = datetime({epochMillis: r.last_ms})
ON MATCH SET x.count = x.count + r.add.count,
             x.weight_kg = x.weight_kg + r.add.weight_kg,
             x.first_ts = CASE WHEN x.first_ts < datetime({epochMillis: r.first_ms})
                               THEN x.first_ts ELSE datetime({epochMillis: r.first_ms}) END,
             x.last_ts = CASE WHEN x.last_ts > datetime({epochMillis: r.last_ms})
                              THEN x.last_ts ELSE datetime({epochMillis: r.last_ms}) END

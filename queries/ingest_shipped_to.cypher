// Logistics records (shipments), aggregated per shipper-receiver pair and added to SHIPPED_TO.
// Not idempotent by itself: guanxi ingest runs it once per batch, guarded by the ledger.
// $rows: [{source, target, count, weight_kg, first_ms, last_ms}]
UNWIND $rows AS r
MATCH (s:Merchant {id: r.source})
MATCH (b:Merchant {id: r.target})
MERGE (s)-[x:SHIPPED_TO]->(b)
ON CREATE SET x.count = 0, x.weight_kg = 0.0
SET x.count = x.count + r.count,
    x.weight_kg = x.weight_kg + r.weight_kg,
    x.first_ts = CASE WHEN x.first_ts < datetime({epochMillis: r.first_ms}) THEN x.first_ts
                      ELSE datetime({epochMillis: r.first_ms}) END,
    x.last_ts = CASE WHEN x.last_ts > datetime({epochMillis: r.last_ms}) THEN x.last_ts
                     ELSE datetime({epochMillis: r.last_ms}) END

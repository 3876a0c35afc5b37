// LOAD CSV baseline: shipments added to SHIPPED_TO per pair, row by row.
LOAD CSV WITH HEADERS FROM $url AS row
CALL (row) {
  MATCH (s:Merchant {id: row.shipper_id})
  MATCH (b:Merchant {id: row.receiver_id})
  WITH s, b, coalesce(toFloat(row.weight_kg), 0.0) AS weight, datetime(row.ts) AS ts
  MERGE (s)-[x:SHIPPED_TO]->(b)
  ON CREATE SET x.count = 0, x.weight_kg = 0.0
  SET x.count = x.count + 1,
      x.weight_kg = x.weight_kg + weight,
      x.first_ts = CASE WHEN x.first_ts < ts THEN x.first_ts ELSE ts END,
      x.last_ts = CASE WHEN x.last_ts > ts THEN x.last_ts ELSE ts END
} IN TRANSACTIONS OF 10000 ROWS

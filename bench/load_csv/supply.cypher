// LOAD CSV baseline: supply invoices added to SUPPLIES per pair, row by row.
LOAD CSV WITH HEADERS FROM $url AS row
CALL (row) {
  MATCH (s:Merchant {id: row.supplier_id})
  MATCH (b:Merchant {id: row.buyer_id})
  WITH s, b, toFloat(row.amount) AS amount, datetime(row.ts) AS ts
  MERGE (s)-[x:SUPPLIES]->(b)
  ON CREATE SET x.count = 0, x.amount = 0.0, x.round_count = 0
  SET x.count = x.count + 1,
      x.amount = x.amount + amount,
      x.amount_max = CASE WHEN x.amount_max > amount THEN x.amount_max ELSE amount END,
      x.round_count = x.round_count + CASE WHEN round(amount * 100) % 1000 = 0 THEN 1 ELSE 0 END,
      x.first_ts = CASE WHEN x.first_ts < ts THEN x.first_ts ELSE ts END,
      x.last_ts = CASE WHEN x.last_ts > ts THEN x.last_ts ELSE ts END
} IN TRANSACTIONS OF 10000 ROWS

// LOAD CSV baseline: supply invoices added to SUPPLIES per pair, row by row, and to the
// weekly flows of buyer and supplier, as guanxi ingest writes them.
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
  WITH s, b, amount, date.truncate('week', ts) AS week
  MERGE (wb:MerchantWeek {id: b.id + '|' + toString(week)})
  ON CREATE SET wb += {paid_in_count: 0, paid_in_amount: 0.0, paid_out_count: 0, paid_out_amount: 0.0,
                 bought_count: 0, bought_amount: 0.0, sold_count: 0, sold_amount: 0.0,
                 received_count: 0, received_amount: 0.0, shipped_count: 0,
                 shipped_amount: 0.0},
                wb.merchant = b.id, wb.week = week
  SET wb.bought_count = wb.bought_count + 1,
      wb.bought_amount = wb.bought_amount + amount
  WITH s, amount, week
  MERGE (ws:MerchantWeek {id: s.id + '|' + toString(week)})
  ON CREATE SET ws += {paid_in_count: 0, paid_in_amount: 0.0, paid_out_count: 0, paid_out_amount: 0.0,
                 bought_count: 0, bought_amount: 0.0, sold_count: 0, sold_amount: 0.0,
                 received_count: 0, received_amount: 0.0, shipped_count: 0,
                 shipped_amount: 0.0},
                ws.merchant = s.id, ws.week = week
  SET ws.sold_count = ws.sold_count + 1,
      ws.sold_amount = ws.sold_amount + amount
} IN TRANSACTIONS OF 10000 ROWS

// LOAD CSV baseline: shipments added to SHIPPED_TO per pair, row by row, and to the
// weekly flows of receiver and shipper (amount = weight), as guanxi ingest writes them.
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
  WITH s, b, weight, date.truncate('week', ts) AS week
  MERGE (wr:MerchantWeek {id: b.id + '|' + toString(week)})
  ON CREATE SET wr += {paid_in_count: 0, paid_in_amount: 0.0, paid_out_count: 0, paid_out_amount: 0.0,
                 bought_count: 0, bought_amount: 0.0, sold_count: 0, sold_amount: 0.0,
                 received_count: 0, received_amount: 0.0, shipped_count: 0,
                 shipped_amount: 0.0},
                wr.merchant = b.id, wr.week = week
  SET wr.received_count = wr.received_count + 1,
      wr.received_amount = wr.received_amount + weight
  WITH s, weight, week
  MERGE (wp:MerchantWeek {id: s.id + '|' + toString(week)})
  ON CREATE SET wp += {paid_in_count: 0, paid_in_amount: 0.0, paid_out_count: 0, paid_out_amount: 0.0,
                 bought_count: 0, bought_amount: 0.0, sold_count: 0, sold_amount: 0.0,
                 received_count: 0, received_amount: 0.0, shipped_count: 0,
                 shipped_amount: 0.0},
                wp.merchant = s.id, wp.week = week
  SET wp.shipped_count = wp.shipped_count + 1,
      wp.shipped_amount = wp.shipped_amount + weight
} IN TRANSACTIONS OF 10000 ROWS

// LOAD CSV baseline: payments added to PAID per payer-payee pair, row by row, and to
// the weekly flows of the payee (and of a merchant payer), as guanxi ingest writes them.
LOAD CSV WITH HEADERS FROM $url AS row
CALL (row) {
  MATCH (m:Merchant {id: row.payee_id})
  OPTIONAL MATCH (pm:Merchant {id: row.payer_id})
  WITH row, m, pm, toFloat(row.amount) AS amount, datetime(row.ts) AS ts
  CALL (row, pm) {
    WITH row, pm WHERE pm IS NULL
    MERGE (c:Consumer {id: row.payer_id})
    RETURN c AS payer
    UNION
    WITH pm WHERE pm IS NOT NULL
    RETURN pm AS payer
  }
  MERGE (payer)-[p:PAID]->(m)
  ON CREATE SET p.count = 0, p.amount = 0.0, p.amount_sq = 0.0, p.round_count = 0,
                p.night_count = 0
  SET p.count = p.count + 1,
      p.amount = p.amount + amount,
      p.amount_sq = p.amount_sq + amount * amount,
      p.amount_max = CASE WHEN p.amount_max > amount THEN p.amount_max ELSE amount END,
      p.round_count = p.round_count + CASE WHEN round(amount * 100) % 1000 = 0 THEN 1 ELSE 0 END,
      p.night_count = p.night_count + CASE WHEN ts.hour < 6 THEN 1 ELSE 0 END,
      p.first_ts = CASE WHEN p.first_ts < ts THEN p.first_ts ELSE ts END,
      p.last_ts = CASE WHEN p.last_ts > ts THEN p.last_ts ELSE ts END
  WITH m, pm, amount, date.truncate('week', ts) AS week
  MERGE (wi:MerchantWeek {id: m.id + '|' + toString(week)})
  ON CREATE SET wi += {paid_in_count: 0, paid_in_amount: 0.0, paid_out_count: 0, paid_out_amount: 0.0,
                 bought_count: 0, bought_amount: 0.0, sold_count: 0, sold_amount: 0.0,
                 received_count: 0, received_amount: 0.0, shipped_count: 0,
                 shipped_amount: 0.0},
                wi.merchant = m.id, wi.week = week
  SET wi.paid_in_count = wi.paid_in_count + 1,
      wi.paid_in_amount = wi.paid_in_amount + amount
  WITH pm, amount, week WHERE pm IS NOT NULL
  MERGE (wo:MerchantWeek {id: pm.id + '|' + toString(week)})
  ON CREATE SET wo += {paid_in_count: 0, paid_in_amount: 0.0, paid_out_count: 0, paid_out_amount: 0.0,
                 bought_count: 0, bought_amount: 0.0, sold_count: 0, sold_amount: 0.0,
                 received_count: 0, received_amount: 0.0, shipped_count: 0,
                 shipped_amount: 0.0},
                wo.merchant = pm.id, wo.week = week
  SET wo.paid_out_count = wo.paid_out_count + 1,
      wo.paid_out_amount = wo.paid_out_amount + amount
} IN TRANSACTIONS OF 10000 ROWS

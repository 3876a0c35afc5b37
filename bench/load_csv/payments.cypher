// LOAD CSV baseline: payments added to PAID per payer-payee pair, row by row.
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
} IN TRANSACTIONS OF 10000 ROWS

// Payments from consumers, aggregated per payer-payee pair and added to PAID.
// Not idempotent by itself: guanxi ingest runs it once per batch, guarded by the ledger.
// $rows: [{payer, payee, first_ms, last_ms,
//          sums: {count, amount, amount_sq, round_count, night_count}, amount_max}]
UNWIND $rows AS r
MERGE (c:Consumer {id: r.payer})
WITH c, r
MATCH (m:Merchant {id: r.payee})
MERGE (c)-[p:PAID]->(m)
ON CREATE SET p = r.sums, p.amount_max = r.amount_max,
              p.first_ts = datetime({epochMillis: r.first_ms}),
              p.last_ts = datetime({epochMillis: r.last_ms})
ON MATCH SET p.count = p.count + r.sums.count,
             p.amount = p.amount + r.sums.amount,
             p.amount_sq = p.amount_sq + r.sums.amount_sq,
             p.round_count = p.round_count + r.sums.round_count,
             p.night_count = p.night_count + r.sums.night_count,
             p.amount_max = CASE WHEN p.amount_max > r.amount_max THEN p.amount_max
                                 ELSE r.amount_max END,
             p.first_ts = CASE WHEN p.first_ts < datetime({epochMillis: r.first_ms})
                               THEN p.first_ts ELSE datetime({epochMillis: r.first_ms}) END,
             p.last_ts = CASE WHEN p.last_ts > datetime({epochMillis: r.last_ms})
                              THEN p.last_ts ELSE datetime({epochMillis: r.last_ms}) END

// Payments from merchants to merchants, aggregated per payer-payee pair and added to PAID.
// Not idempotent by itself: guanxi ingest runs it once per batch, guarded by the ledger.
// $rows: [{payer, payee, count, amount, amount_sq, amount_max, round_count, night_count,
//          first_ms, last_ms}]
UNWIND $rows AS r
MATCH (c:Merchant {id: r.payer})
WITH c, r
MATCH (m:Merchant {id: r.payee})
MERGE (c)-[p:PAID]->(m)
ON CREATE SET p.count = 0, p.amount = 0.0, p.amount_sq = 0.0, p.round_count = 0,
              p.night_count = 0
SET p.count = p.count + r.count,
    p.amount = p.amount + r.amount,
    p.amount_sq = p.amount_sq + r.amount_sq,
    p.amount_max = CASE WHEN p.amount_max > r.amount_max THEN p.amount_max ELSE r.amount_max END,
    p.round_count = p.round_count + r.round_count,
    p.night_count = p.night_count + r.night_count,
    p.first_ts = CASE WHEN p.first_ts < datetime({epochMillis: r.first_ms}) THEN p.first_ts
                      ELSE datetime({epochMillis: r.first_ms}) END,
    p.last_ts = CASE WHEN p.last_ts > datetime({epochMillis: r.last_ms}) THEN p.last_ts
                     ELSE datetime({epochMillis: r.last_ms}) END

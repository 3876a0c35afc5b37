// Payments between merchants, aggregated per (source payer, target payee) and added to PAID.
// Not idempotent by itself: guanxi ingest runs it once per batch, guarded by the ledger.
// Properties as graph/model.py lists them for (Merchant)-[PAID]->(Merchant).
// $rows: [{source, target, first_ms, last_ms,
//          add: {count, amount, amount_sq, round_count, night_count}, max: {amount_max}}]
UNWIND $rows AS r
MATCH (c:Merchant {id: r.source})
WITH c, r
MATCH (m:Merchant {id: r.target})
MERGE (c)-[p:PAID]->(m)
ON CREATE SET p = r.add, p += r.max,
              p.first_ts = datetime({epochMillis: r.first_ms}),
              p.last_ts = datetime({epochMillis: r.last_ms})
ON MATCH SET p.count = p.count + r.add.count,
             p.amount = p.amount + r.add.amount,
             p.amount_sq = p.amount_sq + r.add.amount_sq,
             p.round_count = p.round_count + r.add.round_count,
             p.night_count = p.night_count + r.add.night_count,
             p.amount_max = CASE WHEN p.amount_max > r.max.amount_max THEN p.amount_max
                                 ELSE r.max.amount_max END,
             p.first_ts = CASE WHEN p.first_ts < datetime({epochMillis: r.first_ms})
                               THEN p.first_ts ELSE datetime({epochMillis: r.first_ms}) END,
             p.last_ts = CASE WHEN p.last_ts > datetime({epochMillis: r.last_ms})
                              THEN p.last_ts ELSE datetime({epochMillis: r.last_ms}) END

// Scores of one batch of merchants in one scoring run (graph/scores.py): a MerchantScore
// per merchant (id '<run>|<merchant id>'), invisible to readers until the run is flipped
// current. A null leaves the property out (no cluster, no embedding). Unknown merchant
// ids are skipped (scoring never creates merchants).
// $rows: [{id, cluster_id, ring_score, pd, credit_score, embedding: [float] or null,
//          fastrp: [float] or null}]
// $run: the run id; $model_version; $scored_at: datetime
UNWIND $rows AS r
MATCH (m:Merchant {id: r.id})
MERGE (s:MerchantScore {id: $run + '|' + r.id})
SET s.run = $run, s.merchant = r.id, s.cluster_id = r.cluster_id, s.ring_score = r.ring_score,
    s.pd = r.pd, s.credit_score = r.credit_score, s.embedding = r.embedding, s.fastrp = r.fastrp,
    s.model_version = $model_version, s.scored_at = $scored_at

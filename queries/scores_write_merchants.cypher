// Scores of one batch of merchants in one scoring run (graph/scores.py): a MerchantScore
// per merchant (id '<run>|<merchant id>'), invisible to readers until the run is flipped
// current. A null leaves the property out (no cluster, no embedding). Unknown merchant
// ids are skipped (scoring never creates merchants).
// An incremental run ($staged) writes the embeddings as staged_embedding and staged_fastrp,
// which no vector index holds, and its flip moves them into place: each vector is then
// indexed once, not inserted here and removed again with the copy it was written on
// (2,300 merchants at 100,000: the batches took 0.38 s instead of 0.6 s). The
// incremental flip (scores_flip_incremental.cypher) names every property written here.
// $rows: [{id, cluster_id, ring_score, pd, credit_score, embedding: [float] or null,
//          fastrp: [float] or null}]
// $run: the run id; $model_version; $scored_at: datetime; $staged: boolean
UNWIND $rows AS r
MATCH (m:Merchant {id: r.id})
MERGE (s:MerchantScore {id: $run + '|' + r.id})
SET s.run = $run, s.merchant = r.id, s.cluster_id = r.cluster_id, s.ring_score = r.ring_score,
    s.pd = r.pd, s.credit_score = r.credit_score,
    s.embedding = CASE WHEN $staged THEN null ELSE r.embedding END,
    s.fastrp = CASE WHEN $staged THEN null ELSE r.fastrp END,
    s.staged_embedding = CASE WHEN $staged THEN r.embedding END,
    s.staged_fastrp = CASE WHEN $staged THEN r.fastrp END,
    s.model_version = $model_version, s.scored_at = $scored_at

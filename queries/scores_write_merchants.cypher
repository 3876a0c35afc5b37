// Scores of one batch of merchants (graph/scores.py), stamped with the run id. A null
// removes the property, so a merchant in no cluster loses its cluster_id and a run
// without embeddings removes the previous run's. Unknown ids are skipped (scoring
// never creates merchants).
// $rows: [{id, cluster_id, ring_score, pd, credit_score, embedding: [float] or null}]
// $run: the run id; $model_version; $scored_at: datetime
UNWIND $rows AS r
MATCH (m:Merchant {id: r.id})
SET m.ring_score = r.ring_score, m.pd = r.pd, m.credit_score = r.credit_score,
    m.cluster_id = r.cluster_id, m.embedding = r.embedding,
    m.model_version = $model_version, m.scored_at = $scored_at, m.score_run = $run

// One page of a run's merchant scores (graph/scores.py, read with Graph.frames): merchants
// after $after in id order, at most $limit, as one row of equal-length lists. A property
// that may be absent is collected wrapped in a one-element list (collect() skips nulls).
// The embedding is returned only when $embeddings is true (nulls otherwise).
// $run: the run id; $embeddings: boolean; $after; $limit
MATCH (m:Merchant) USING INDEX m:Merchant(id)
WHERE m.id > $after AND m.score_run = $run
WITH m ORDER BY m.id LIMIT $limit
RETURN collect(m.id) AS merchant_id,
       [x IN collect([m.cluster_id]) | x[0]] AS cluster_id,
       [x IN collect([m.ring_score]) | x[0]] AS ring_score,
       [x IN collect([m.pd]) | x[0]] AS pd,
       [x IN collect([m.credit_score]) | x[0]] AS credit_score,
       [x IN collect([CASE WHEN $embeddings THEN m.embedding END]) | x[0]] AS embedding

// One page of a run's merchant scores (graph/scores.py, read with Graph.frames): merchants
// after $after in id order, at most $limit, as one row of equal-length lists. A property
// that may be absent is collected wrapped in a one-element list (collect() skips nulls).
// The embedding is returned only when $embeddings is true (nulls otherwise).
// $run: the run id the merchant scores carry (ScoreRun.merchant_run); $embeddings: boolean; $after; $limit
MATCH (s:MerchantScore) USING INDEX s:MerchantScore(run, merchant)
WHERE s.run = $run AND s.merchant > $after
WITH s ORDER BY s.merchant LIMIT $limit
RETURN collect(s.merchant) AS merchant_id,
       [x IN collect([s.cluster_id]) | x[0]] AS cluster_id,
       [x IN collect([s.ring_score]) | x[0]] AS ring_score,
       [x IN collect([s.pd]) | x[0]] AS pd,
       [x IN collect([s.credit_score]) | x[0]] AS credit_score,
       [x IN collect([CASE WHEN $embeddings THEN s.embedding END]) | x[0]] AS embedding

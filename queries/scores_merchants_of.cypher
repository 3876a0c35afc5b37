// The merchant scores readers read in run $run of the merchants $ids (graph/scores.py:
// what an incremental run compares its new scores with), as one row of equal-length
// lists; merchants the run has no score for are absent. A property that may be absent
// is collected wrapped in a one-element list (collect() skips nulls).
// $run: the run id; $ids: merchant ids
MATCH (r:ScoreRun {id: $run})
UNWIND $ids AS id
MATCH (s:MerchantScore {id: coalesce(r.merchant_run, r.id) + '|' + id})
RETURN collect(s.merchant) AS merchant_id,
       [x IN collect([s.cluster_id]) | x[0]] AS cluster_id,
       [x IN collect([s.ring_score]) | x[0]] AS ring_score,
       [x IN collect([s.pd]) | x[0]] AS pd,
       [x IN collect([s.credit_score]) | x[0]] AS credit_score,
       [x IN collect([s.embedding]) | x[0]] AS embedding,
       [x IN collect([s.fastrp]) | x[0]] AS fastrp

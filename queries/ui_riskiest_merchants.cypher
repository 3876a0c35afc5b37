// The current run's riskiest merchants (a saved query in the app): ring score at least
// $min_score, highest first, at most $limit.
// $min_score: 0 to 1; $limit
MATCH (r:ScoreRun {state: 'current'})
MATCH (s:MerchantScore) WHERE s.run = coalesce(r.merchant_run, r.id) AND s.ring_score >= $min_score
WITH r, s ORDER BY s.ring_score DESC, s.merchant LIMIT $limit
MATCH (m:Merchant {id: s.merchant})
RETURN m.id AS merchant_id, m.name AS name, m.city AS city, m.category AS category,
       s.ring_score AS ring_score, s.pd AS pd, s.credit_score AS credit_score,
       s.cluster_id AS cluster_id

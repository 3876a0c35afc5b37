// The switch to a new scoring run, 3 of 3: at most $limit merchants whose scores come
// from another run (they were not scored by this one) lose them.
// $run: the run id that stays; $limit
MATCH (m:Merchant) USING INDEX m:Merchant(score_run)
WHERE m.score_run < $run OR m.score_run > $run
WITH m LIMIT $limit
REMOVE m.ring_score, m.pd, m.credit_score, m.cluster_id, m.embedding, m.model_version,
       m.scored_at, m.score_run
RETURN count(*) AS n

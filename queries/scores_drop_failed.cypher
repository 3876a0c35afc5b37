// Runs that died half-written (state 'writing' or 'failed', other than the current run
// $run) are marked 'failed' and lose at most $limit of their cluster scores, which no
// reader ever saw (graph/scores.py calls it until fewer than $limit go). Only a holder
// of the scores lock runs it: then no other run is being written. $runs counts the
// runs newly marked.
// $run: the current run; $limit
MATCH (r:ScoreRun) WHERE r.state IN ['writing', 'failed'] AND r.id <> $run
WITH r, r.state = 'writing' AS newly
SET r.state = 'failed'
WITH collect(r.id) AS ids, sum(CASE WHEN newly THEN 1 ELSE 0 END) AS runs
CALL (ids) {
  MATCH (s:ClusterScore) WHERE s.run IN ids
  WITH s LIMIT $limit
  DELETE s
  RETURN count(*) AS cluster_scores
}
RETURN runs, cluster_scores

// Runs that died half-written (state 'writing', older than the run just made current)
// are marked 'failed' and lose their cluster scores, which no reader ever saw.
// $run: the current run; $limit
MATCH (r:ScoreRun {state: 'writing'}) WHERE r.id < $run
SET r.state = 'failed'
WITH r
CALL (r) {
  MATCH (s:ClusterScore) WHERE s.run = r.id
  WITH s LIMIT $limit
  DELETE s
  RETURN count(*) AS n
}
RETURN count(r) AS runs, sum(n) AS cluster_scores

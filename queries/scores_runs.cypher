// The scoring runs whose scores the graph holds, with how many merchants and clusters
// carry each (one run after a complete write; two while one is under way or after one
// was interrupted). Counted from the score_run indexes alone; the model version and
// time are read from one node per run.
MATCH (m:Merchant) WHERE m.score_run IS NOT NULL
WITH m.score_run AS run, count(*) AS merchants
CALL (run) {
  MATCH (x:Merchant) WHERE x.score_run = run
  RETURN x.model_version AS model_version, x.scored_at AS scored_at LIMIT 1
}
RETURN run, model_version, scored_at, merchants, 0 AS clusters
UNION ALL
MATCH (c:Cluster) WHERE c.score_run IS NOT NULL
WITH c.score_run AS run, count(*) AS clusters
CALL (run) {
  MATCH (x:Cluster) WHERE x.score_run = run
  RETURN x.model_version AS model_version, x.scored_at AS scored_at LIMIT 1
}
RETURN run, model_version, scored_at, 0 AS merchants, clusters

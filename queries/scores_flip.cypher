// Make a written run the one readers read, in one transaction (graph/scores.py): the
// current run becomes 'replaced', this one 'current' with its counts; its clusters are
// live (last_run), clusters it lacks are retired. Its merchant scores carry its own id
// (merchant_run). Readers see the old run or the new
// one, never a mix. $run must be in state 'writing' or already 'current'.
// $run; $scored_at: datetime; $counts: {merchants, clusters, memberships}
MATCH (r:ScoreRun {id: $run})
OPTIONAL MATCH (old:ScoreRun {state: 'current'}) WHERE old.id <> $run
SET old.state = 'replaced', old.replaced_at = datetime()
WITH DISTINCT r
SET r.state = 'current', r.finished_at = coalesce(r.finished_at, datetime()),
    r.merchants = $counts.merchants, r.clusters = $counts.clusters,
    r.memberships = $counts.memberships, r.merchant_run = r.id
WITH r
CALL (r) {
  MATCH (s:ClusterScore) WHERE s.run = r.id
  MATCH (c:Cluster {id: s.cluster})
  SET c.last_run = r.id, c.retired_at = null
  RETURN count(*) AS live
}
CALL (r) {
  MATCH (c:Cluster) WHERE c.retired_at IS NULL AND (c.last_run IS NULL OR c.last_run <> r.id)
  SET c.retired_at = $scored_at
  RETURN count(*) AS retired
}
RETURN live, retired

// The switch to a new scoring run, 2 of 3: at most $limit clusters of another run.
// A cluster a case is about is kept for the case, marked retired_at, without members
// or run id; any other is deleted with its memberships.
// $run: the run id that stays; $scored_at: the new run's time; $limit
MATCH (c:Cluster) USING INDEX c:Cluster(score_run)
WHERE c.score_run < $run OR c.score_run > $run
WITH c, EXISTS { (:Case)-[:ABOUT]->(c) } AS kept
LIMIT $limit
CALL (c, kept) {
  WITH c, kept WHERE kept
  OPTIONAL MATCH (c)<-[i:IN_CLUSTER]-()
  DELETE i
  WITH DISTINCT c
  SET c.retired_at = $scored_at
  REMOVE c.score_run
}
CALL (c, kept) {
  WITH c, kept WHERE NOT kept
  DETACH DELETE c
}
RETURN count(*) AS n, sum(CASE WHEN kept THEN 1 ELSE 0 END) AS retired

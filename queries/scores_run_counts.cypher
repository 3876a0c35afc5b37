// What carries one scoring run's id: merchants, clusters and memberships.
// $run: the run id
CALL () { MATCH (m:Merchant) WHERE m.score_run = $run RETURN count(m) AS merchants }
CALL () { MATCH (c:Cluster) WHERE c.score_run = $run RETURN count(c) AS clusters }
CALL () {
  MATCH ()-[i:IN_CLUSTER]->() WHERE i.score_run = $run RETURN count(i) AS memberships
}
RETURN merchants, clusters, memberships

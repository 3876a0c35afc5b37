// After the flip (graph/scores.py): remove at most $limit merchant scores and at most
// $limit memberships of runs other than the current one (replaced runs, and runs that
// died half-written). Cluster scores stay: they are each cluster's history.
// $run: the current run; $merchant_run: the id its merchant scores carry; $limit
CALL () {
  MATCH (s:MerchantScore) USING INDEX s:MerchantScore(run)
  WHERE s.run < $merchant_run OR s.run > $merchant_run
  WITH s LIMIT $limit
  DELETE s
  RETURN count(*) AS scores
}
CALL () {
  MATCH ()-[i:IN_CLUSTER]->() USING INDEX i:IN_CLUSTER(run)
  WHERE i.run < $run OR i.run > $run
  WITH i LIMIT $limit
  DELETE i
  RETURN count(*) AS memberships
}
RETURN scores, memberships

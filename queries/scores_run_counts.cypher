// What one scoring run wrote: merchant scores, cluster scores and memberships.
// $run: the run id
CALL () {
  MATCH (s:MerchantScore) WHERE s.run = $run RETURN count(s) AS merchants
}
CALL () { MATCH (s:ClusterScore) WHERE s.run = $run RETURN count(s) AS clusters }
CALL () { MATCH ()-[i:IN_CLUSTER]->() WHERE i.run = $run RETURN count(i) AS memberships }
RETURN merchants, clusters, memberships

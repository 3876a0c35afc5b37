// One page of a run's clusters (graph/scores.py, read with Graph.frames): clusters after
// $after in id order, at most $limit, as one row of equal-length lists; members are the
// run's IN_CLUSTER memberships, in id order.
// $run: the run id; $after; $limit
MATCH (s:ClusterScore) USING INDEX s:ClusterScore(run, cluster)
WHERE s.run = $run AND s.cluster > $after
WITH s ORDER BY s.cluster LIMIT $limit
WITH s, COLLECT {
  MATCH (m:Merchant)-[i:IN_CLUSTER]->(:Cluster {id: s.cluster}) WHERE i.run = $run
  RETURN m.id ORDER BY m.id
} AS members
RETURN collect(s.cluster) AS cluster_id,
       [x IN collect([s.size]) | x[0]] AS size,
       [x IN collect([s.collusion_score]) | x[0]] AS collusion_score,
       [x IN collect([s.group_pd]) | x[0]] AS group_pd,
       [x IN collect([s.credit_score]) | x[0]] AS credit_score,
       [x IN collect([s.key_members]) | x[0]] AS key_members,
       [x IN collect([s.top_factors]) | x[0]] AS top_factors,
       [x IN collect([s.top_links]) | x[0]] AS top_links,
       collect(members) AS members

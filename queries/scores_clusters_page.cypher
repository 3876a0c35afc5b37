// One page of a run's clusters (graph/scores.py, read with Graph.frames): clusters after
// $after in id order, at most $limit, as one row of equal-length lists; members are the
// run's IN_CLUSTER memberships, in id order.
// $run: the run id; $after; $limit
MATCH (c:Cluster) USING INDEX c:Cluster(id)
WHERE c.id > $after AND c.score_run = $run
WITH c ORDER BY c.id LIMIT $limit
WITH c, COLLECT {
  MATCH (m:Merchant)-[i:IN_CLUSTER]->(c) WHERE i.score_run = $run
  RETURN m.id ORDER BY m.id
} AS members
RETURN collect(c.id) AS cluster_id,
       [x IN collect([c.size]) | x[0]] AS size,
       [x IN collect([c.collusion_score]) | x[0]] AS collusion_score,
       [x IN collect([c.group_pd]) | x[0]] AS group_pd,
       [x IN collect([c.credit_score]) | x[0]] AS credit_score,
       [x IN collect([c.key_members]) | x[0]] AS key_members,
       [x IN collect([c.top_factors]) | x[0]] AS top_factors,
       [x IN collect([c.top_links]) | x[0]] AS top_links,
       collect(members) AS members

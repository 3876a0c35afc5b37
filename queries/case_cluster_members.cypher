// A cluster's members as a case records them at its decision: the current scoring
// run's, or, for a cluster the current run no longer has, those of the last completed
// run that scored it. Sorted ids; an empty list when no run scored it.
// $cluster: the cluster id
OPTIONAL MATCH (r:ScoreRun {state: 'current'})
OPTIONAL MATCH (m:Merchant)-[:IN_CLUSTER {run: r.id}]->(:Cluster {id: $cluster})
WITH collect(m.id) AS current
OPTIONAL MATCH (s:ClusterScore {cluster: $cluster})
OPTIONAL MATCH (past:ScoreRun {id: s.run}) WHERE past.state IN ['current', 'replaced']
WITH current, s ORDER BY CASE WHEN past IS NULL THEN '' ELSE s.run END DESC
WITH current, collect(s.members)[0] AS last
RETURN CASE WHEN size(current) > 0 THEN current ELSE coalesce(last, []) END AS members

// One cluster's scores and membership changes in every run that scored it, oldest
// first (graph/scores.py, cluster_history), for drift: when did its group PD move.
// Runs that died half-written are left out.
// $cluster: the cluster id
MATCH (s:ClusterScore) WHERE s.cluster = $cluster
MATCH (r:ScoreRun {id: s.run}) WHERE r.state IN ['current', 'replaced']
RETURN s.run AS run, r.state AS state, s.scored_at AS scored_at,
       s.model_version AS model_version, s.size AS size,
       s.collusion_score AS collusion_score, s.group_pd AS group_pd,
       s.credit_score AS credit_score, s.event AS event, s.joined AS joined, s.left AS left,
       s.merged_from AS merged_from, s.split_into AS split_into
ORDER BY s.run

// One cluster's scores in run $run (ui/views.py): the scores, key members, top factors
// and top links (JSON text), members, and how it changed since the run before. No row
// when the run did not score it.
// $cluster: the cluster id; $run: the run id
MATCH (s:ClusterScore {run: $run, cluster: $cluster})
RETURN s.cluster AS cluster_id, s.size AS size, s.collusion_score AS collusion_score,
       s.group_pd AS group_pd, s.credit_score AS credit_score, s.key_members AS key_members,
       s.top_factors AS top_factors, s.top_links AS top_links, s.members AS members,
       s.event AS event, s.joined AS joined, s.left AS left, s.model_version AS model_version

// The current run's clusters for the app's leaderboard and peer comparisons (ui/views.py),
// as one row of equal-length lists, in cluster id order: scores, size, and the members'
// most common city and category (stored by the run's write, scores_write_clusters).
// $run: the run id
MATCH (s:ClusterScore) USING INDEX s:ClusterScore(run, cluster)
WHERE s.run = $run AND s.cluster > ''
WITH s ORDER BY s.cluster
RETURN collect(s.cluster) AS cluster_id,
       [x IN collect([s.size]) | x[0]] AS size,
       [x IN collect([s.collusion_score]) | x[0]] AS collusion_score,
       [x IN collect([s.group_pd]) | x[0]] AS group_pd,
       [x IN collect([s.credit_score]) | x[0]] AS credit_score,
       [x IN collect([s.event]) | x[0]] AS event,
       [x IN collect([s.city]) | x[0]] AS city,
       [x IN collect([s.category]) | x[0]] AS category

// The current run's clusters for the app's leaderboard and peer comparisons (ui/views.py),
// as one row of equal-length lists, in cluster id order: scores, size, and the most
// common city and category of the members (ties: the first in text order; null when no
// member has one).
// $run: the run id
MATCH (s:ClusterScore) USING INDEX s:ClusterScore(run, cluster)
WHERE s.run = $run AND s.cluster > ''
WITH s ORDER BY s.cluster
WITH s,
     COLLECT { UNWIND s.members AS id MATCH (m:Merchant {id: id}) WHERE m.city IS NOT NULL
               WITH m.city AS v, count(*) AS n ORDER BY n DESC, v RETURN v LIMIT 1 } AS city,
     COLLECT { UNWIND s.members AS id MATCH (m:Merchant {id: id}) WHERE m.category IS NOT NULL
               WITH m.category AS v, count(*) AS n ORDER BY n DESC, v RETURN v LIMIT 1 } AS category
RETURN collect(s.cluster) AS cluster_id,
       [x IN collect([s.size]) | x[0]] AS size,
       [x IN collect([s.collusion_score]) | x[0]] AS collusion_score,
       [x IN collect([s.group_pd]) | x[0]] AS group_pd,
       [x IN collect([s.credit_score]) | x[0]] AS credit_score,
       [x IN collect([s.event]) | x[0]] AS event,
       [x IN collect([city]) | x[0][0]] AS city,
       [x IN collect([category]) | x[0][0]] AS category

// The clusters, with their members, of the last completed run before $run: what a new
// run's membership changes are measured against (graph/scores.py, gnn/history.py).
// $run: the run being written
MATCH (r:ScoreRun) WHERE r.state IN ['current', 'replaced'] AND r.id < $run
WITH r ORDER BY r.id DESC LIMIT 1
MATCH (s:ClusterScore) WHERE s.run = r.id
RETURN s.cluster AS cluster, s.members AS members

// The switch to a new scoring run, 1 of 3: remove at most $limit memberships that an
// older (or any other) run wrote. Found through the index in_cluster_score_run: the
// two ranges around $run (the hint: the planner would scan every membership).
// $run: the run id that stays; $limit
MATCH ()-[i:IN_CLUSTER]->() USING INDEX i:IN_CLUSTER(score_run)
WHERE i.score_run < $run OR i.score_run > $run
WITH i LIMIT $limit
DELETE i
RETURN count(*) AS n

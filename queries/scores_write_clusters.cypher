// Clusters of one scoring run (graph/scores.py): the persistent Cluster node (by id,
// created when new), the run's ClusterScore (id '<run>|<cluster id>') and the run's
// IN_CLUSTER memberships. Nothing a reader reads changes: readers read the current
// run's ClusterScore and memberships, and this run is not current until the flip. A
// batch holds whole clusters, so no two batches touch one cluster or one merchant.
// top_factors, top_links are JSON text (a property cannot hold a map). city and category
// are the members' most common ones (ties: the first in text order; null when no member
// has one), kept here so that the app's leaderboard reads one node per cluster.
// $rows: [{id, size, collusion_score, group_pd, credit_score, key_members: [id],
//          top_factors: text, top_links: text, members: [merchant id], event,
//          joined: [id], left: [id], merged_from: [id], split_into: [id]}]
// $run: the run id; $model_version; $scored_at: datetime
UNWIND $rows AS r
MERGE (c:Cluster {id: r.id})
ON CREATE SET c.first_run = $run
MERGE (s:ClusterScore {id: $run + '|' + r.id})
SET s.run = $run, s.cluster = r.id, s.size = r.size, s.collusion_score = r.collusion_score,
    s.group_pd = r.group_pd, s.credit_score = r.credit_score, s.key_members = r.key_members,
    s.top_factors = r.top_factors, s.top_links = r.top_links, s.members = r.members,
    s.event = r.event,
    s.joined = r.joined, s.left = r.left, s.merged_from = r.merged_from,
    s.split_into = r.split_into, s.model_version = $model_version, s.scored_at = $scored_at,
    s.city = COLLECT { UNWIND r.members AS id MATCH (m:Merchant {id: id})
                       WHERE m.city IS NOT NULL
                       WITH m.city AS v, count(*) AS n ORDER BY n DESC, v RETURN v LIMIT 1 }[0],
    s.category = COLLECT { UNWIND r.members AS id MATCH (m:Merchant {id: id})
                           WHERE m.category IS NOT NULL
                           WITH m.category AS v, count(*) AS n ORDER BY n DESC, v
                           RETURN v LIMIT 1 }[0]
WITH c, r
UNWIND r.members AS id
MATCH (m:Merchant {id: id})
MERGE (m)-[:IN_CLUSTER {run: $run}]->(c)

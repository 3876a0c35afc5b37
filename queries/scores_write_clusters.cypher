// Clusters of one scoring run and their members (graph/scores.py), created or updated
// by id and stamped with the run id. A batch holds whole clusters, so no two batches
// touch one cluster or one merchant. top_factors and top_links are JSON text (a
// property cannot hold a map). A cluster a case had retired comes back to life.
// $rows: [{id, size, collusion_score, group_pd, credit_score, key_members: [id],
//          top_factors: text, top_links: text, members: [merchant id]}]
// $run: the run id; $model_version; $scored_at: datetime
UNWIND $rows AS r
MERGE (c:Cluster {id: r.id})
SET c.size = r.size, c.collusion_score = r.collusion_score, c.group_pd = r.group_pd,
    c.credit_score = r.credit_score, c.key_members = r.key_members,
    c.top_factors = r.top_factors, c.top_links = r.top_links,
    c.model_version = $model_version, c.scored_at = $scored_at, c.score_run = $run,
    c.retired_at = null
WITH c, r
UNWIND r.members AS id
MATCH (m:Merchant {id: id})
MERGE (m)-[i:IN_CLUSTER]->(c)
SET i.score_run = $run

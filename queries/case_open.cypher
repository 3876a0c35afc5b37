// Open a case on a cluster or a merchant, with the first entry of its audit trail.
// Idempotent: the ids are made by the caller once, so a retried transaction finds the
// case and its entry instead of making them twice. No row when the cluster or merchant
// does not exist.
// $id, $event: new case and entry ids; $kind: 'cluster' or 'merchant'; $about: its id;
// $title; $user: who opens it; $note (or null)
CALL () {
  MATCH (x:Cluster {id: $about}) WHERE $kind = 'cluster' RETURN x
  UNION
  MATCH (x:Merchant {id: $about}) WHERE $kind = 'merchant' RETURN x
}
MERGE (c:Case {id: $id})
ON CREATE SET c.status = 'open', c.title = $title, c.about_kind = $kind, c.about_id = $about,
              c.opened_by = $user, c.opened_at = datetime(), c.updated_at = datetime()
MERGE (c)-[:ABOUT]->(x)
MERGE (e:CaseEvent {id: $event})
ON CREATE SET e.case = $id, e.at = datetime(), e.user = $user, e.action = 'opened',
              e.to = 'open', e.note = $note
MERGE (c)-[:LOGGED]->(e)
RETURN c.id AS id

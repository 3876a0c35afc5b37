// A case's audit trail, oldest first: who did what, when.
// $id: the case id
MATCH (:Case {id: $id})-[:LOGGED]->(e:CaseEvent)
RETURN e.at AS at, e.user AS user, e.action AS action, e.from AS from, e.to AS to,
       e.note AS note, e.id AS event
ORDER BY e.at, e.id

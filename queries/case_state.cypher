// What a change to a case is checked against, read after case_lock: its status and
// assignee, what it is about, and whether the entry $event is already in its audit
// trail (a retried transaction that had committed). No row for an unknown case.
// $id: the case id; $event: the entry id of the change
MATCH (c:Case {id: $id})
OPTIONAL MATCH (c)-[:LOGGED]->(e:CaseEvent {id: $event})
RETURN c.status AS status, c.assignee AS assignee, c.about_kind AS kind,
       c.about_id AS about, e IS NOT NULL AS logged

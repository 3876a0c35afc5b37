// Give a case to an investigator, with its entry in the audit trail.
// Run after case_lock and case_state, in the same transaction.
// $id, $event: the case and the new entry's id; $from: the previous assignee (or null);
// $to: the new one; $user; $note (or null)
MATCH (c:Case {id: $id})
SET c.assignee = $to, c.updated_at = datetime()
CREATE (c)-[:LOGGED]->(:CaseEvent {id: $event, case: $id, at: datetime(), user: $user,
                                   action: 'assigned', from: $from, to: $to, note: $note})

// Move a case to another status, with its entry in the audit trail. A decision
// (confirmed_fraud, cleared) keeps its note, time and, for a case on a cluster, the
// members it labels (queries/case_decisions.cypher); reopening clears them.
// Run after case_lock and case_state checked the move, in the same transaction.
// $id, $event: the case and the new entry's id; $from, $to: statuses; $decided: whether
// $to is a decision; $members: the cluster's members (null for a merchant);
// $user; $note
MATCH (c:Case {id: $id})
SET c.status = $to, c.updated_at = datetime(),
    c.decided_at = CASE WHEN $decided THEN datetime() END,
    c.decided_by = CASE WHEN $decided THEN $user END,
    c.decision_note = CASE WHEN $decided THEN $note END,
    c.members = CASE WHEN $decided THEN $members END
CREATE (c)-[:LOGGED]->(:CaseEvent {id: $event, case: $id, at: datetime(), user: $user,
                                   action: 'moved', from: $from, to: $to, note: $note})

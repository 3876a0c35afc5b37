// One case with everything its page shows; no row for an unknown id.
// $id: the case id
MATCH (c:Case {id: $id})
RETURN c {.id, .status, .title, .about_kind, .about_id, .assignee, .opened_by, .opened_at,
          .updated_at, .decided_at, .decided_by, .decision_note, .members} AS c

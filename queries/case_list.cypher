// Cases, most recently changed first, filtered by status (a list; null: any), assignee
// and what they are about (null: any).
// $statuses, $assignee, $kind ('cluster' or 'merchant'), $about (an id), $limit
MATCH (c:Case)
WHERE ($statuses IS NULL OR c.status IN $statuses)
  AND ($assignee IS NULL OR c.assignee = $assignee)
  AND ($kind IS NULL OR c.about_kind = $kind)
  AND ($about IS NULL OR c.about_id = $about)
RETURN c {.id, .status, .title, .about_kind, .about_id, .assignee, .opened_by, .opened_at,
          .updated_at, .decided_at, .decided_by, .decision_note, .members} AS c
ORDER BY c.updated_at DESC, c.id
LIMIT $limit

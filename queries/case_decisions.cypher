// Investigators' decisions that become training labels: cases closed as confirmed
// fraud or cleared, with the merchants they are about (a case on a cluster keeps its
// members as they were when it was decided, in c.members).
MATCH (c:Case)-[:ABOUT]->(x)
WHERE c.status IN $decided
RETURN c.id AS case_id, c.status AS status, c.decided_at AS decided_at,
       CASE WHEN x:Merchant THEN [x.id] ELSE coalesce(c.members, []) END AS merchants
ORDER BY c.decided_at

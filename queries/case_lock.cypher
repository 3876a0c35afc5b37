// Lock a case for the rest of the transaction (a write takes the node's lock), so that
// the status read next is the latest: of two users moving one case at once, the
// second waits here and then sees the first one's change.
// $id: the case id
MATCH (c:Case {id: $id})
SET c.locked_at = datetime()

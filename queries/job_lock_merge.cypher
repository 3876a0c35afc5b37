// Find or create a job's lock and lock its node for the rest of the transaction (a
// write takes the node's lock), so the acquire that follows reads its holder safely.
// $name: the lock's name ('scores': guanxi score and guanxi refresh)
MERGE (l:JobLock {id: $name})
ON CREATE SET l.created_at = datetime()
SET l.locked_at = datetime()

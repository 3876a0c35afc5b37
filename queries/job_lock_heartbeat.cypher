// The holder of a job's lock says it is alive; no row back means the lock was taken over.
// $name, $owner: the holder's id
MATCH (l:JobLock {id: $name})
WHERE l.owner = $owner
SET l.heartbeat = datetime()
RETURN l.id AS name

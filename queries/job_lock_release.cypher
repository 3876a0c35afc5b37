// Give up a job's lock; only its holder can. The node stays, with when it was released.
// No row back means $owner did not hold it (it was taken over, or never taken).
// $name, $owner: the holder's id
MATCH (l:JobLock {id: $name})
WHERE l.owner = $owner
REMOVE l.owner, l.owner_pid, l.owner_host, l.owner_job, l.owner_since, l.heartbeat
SET l.released_at = datetime()
RETURN l.id AS name

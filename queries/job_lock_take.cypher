// Make $owner the holder of a job's lock (run after job_lock_merge, same transaction).
// $job names what it runs under the lock ('refresh', 'scoring'), for others' messages.
// $name, $owner: {id, pid, host}, $job
MATCH (l:JobLock {id: $name})
SET l.owner = $owner.id, l.owner_pid = $owner.pid, l.owner_host = $owner.host,
    l.owner_job = $job, l.owner_since = datetime(), l.heartbeat = datetime()

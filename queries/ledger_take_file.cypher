// Make $owner the holder of a file's claim (run after ledger_lock_file, same transaction).
// $key, $owner: {id, pid, host}
MATCH (f:IngestFile {id: $key})
SET f.owner = $owner.id, f.owner_pid = $owner.pid, f.owner_host = $owner.host,
    f.owner_since = datetime(), f.heartbeat = datetime()

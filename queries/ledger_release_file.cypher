// Give up a file's claim. A file that never began writing (status 'new') leaves no record.
// $key, $owner: the holder's id
MATCH (f:IngestFile {id: $key})
WHERE f.owner = $owner
REMOVE f.owner, f.owner_pid, f.owner_host, f.owner_since, f.heartbeat
WITH f
WHERE f.status = 'new'
DELETE f

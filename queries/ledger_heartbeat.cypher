// The holder of a file's claim says it is alive; no row back means the claim was lost.
// $key, $owner: the holder's id
MATCH (f:IngestFile {id: $key})
WHERE f.owner = $owner
SET f.heartbeat = datetime()
RETURN f.id AS key

// Mark a claimed file 'loading'. A fresh load (status 'new', or a reload of a 'done' file)
// takes $props and $generation; an interrupted one keeps what it started with.
// Returns nothing when $owner no longer holds the claim.
// $key, $owner, $generation, $props: {kind, name, sha256, mapping, reading, batch_size, buckets}
MATCH (f:IngestFile {id: $key})
WHERE f.owner = $owner
WITH f, f.status IN ['new', 'done'] AS fresh
SET f += CASE WHEN fresh THEN $props ELSE {} END,
    f.generation = CASE WHEN fresh THEN $generation ELSE f.generation END,
    f.started_at = CASE WHEN fresh THEN datetime() ELSE f.started_at END,
    f.status = 'loading'
RETURN f {.*} AS file

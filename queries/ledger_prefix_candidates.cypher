// Files of one kind in the ingest ledger that a new file may repeat (ingest/extends.py):
// those shorter than it whose first bytes are its own (or that are shorter than those
// first bytes), which may be its start, and those of any length with its first
// $head_bytes bytes (same_head), which share its first rows. The caller compares
// hashes with the new file's bytes.
// $kind; $size: the new content's length in bytes; $head: the SHA-256 of its first
// $head_bytes bytes
MATCH (f:IngestFile)
WHERE f.kind = $kind AND f.status IN ['loading', 'done']
  AND ((f.size < $size AND (f.head_sha256 = $head OR f.size <= $head_bytes))
       OR (f.head_sha256 = $head AND f.size >= $head_bytes AND $size >= $head_bytes))
RETURN f.id AS key, f.name AS name, f.sha256 AS sha256, f.size AS size, f.status AS status,
       f.reading AS reading, toString(f.finished_at) AS finished_at,
       f.head_sha256 = $head AND f.size >= $head_bytes AS same_head
ORDER BY size

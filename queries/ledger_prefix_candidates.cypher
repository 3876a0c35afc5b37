// Files of one kind in the ingest ledger that may be the start of a new file's content
// (ingest/extends.py): shorter than it, and starting with the same first bytes (or
// shorter than those). The caller compares their hashes with the new file's bytes.
// $kind; $size: the new content's length in bytes; $head: the SHA-256 of its first
// $head_bytes bytes
MATCH (f:IngestFile)
WHERE f.kind = $kind AND f.size < $size AND f.status IN ['loading', 'done']
  AND (f.head_sha256 = $head OR f.size <= $head_bytes)
RETURN f.id AS key, f.name AS name, f.sha256 AS sha256, f.size AS size, f.status AS status,
       f.reading AS reading, toString(f.finished_at) AS finished_at
ORDER BY size

// Files that guanxi ingest has loaded or is loading, newest first.
// $limit
MATCH (f:IngestFile)
RETURN f.name AS file, f.kind AS kind, f.status AS status, f.rows_read AS rows_read,
       f.rejected AS rejected, f.rows_written AS rows_written, f.started_at AS started_at,
       f.finished_at AS finished_at, left(f.sha256, 12) AS sha256
ORDER BY f.started_at DESC
LIMIT $limit

// The other files of one kind in the ingest ledger whose first bytes are recorded, for
// ingest/extends.py to compare with a new file's: what each is, its status and reading,
// and its claim's holder with the seconds since its heartbeat (null: nobody holds it).
// $kind; $key: the new file's own ledger key
MATCH (f:IngestFile)
WHERE f.kind = $kind AND f.id <> $key AND f.head IS NOT NULL
  AND f.status IN ['new', 'loading', 'done']
RETURN f.id AS key, f.name AS name, f.path AS path, f.sha256 AS sha256, f.size AS size,
       f.head AS head, f.status AS status, f.reading AS reading,
       f.reading_settings AS reading_settings, toString(f.finished_at) AS finished_at,
       f.owner AS owner, f.owner_pid AS owner_pid, f.owner_host AS owner_host,
       f.owner_since AS owner_since,
       CASE WHEN f.heartbeat IS NULL THEN null
            ELSE duration.inSeconds(f.heartbeat, datetime()).seconds END AS idle_seconds
ORDER BY size

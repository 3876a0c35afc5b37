// How many loaded files of one kind have no first bytes recorded (loaded by a guanxi
// older than that record): ingest/extends.py cannot tell whether a new file repeats them.
// $kind
MATCH (f:IngestFile)
WHERE f.kind = $kind AND f.status = 'done' AND f.head IS NULL
RETURN count(f) AS n

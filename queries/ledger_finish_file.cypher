// Mark a file done with its counts. Batch records stay: a writer that wakes up late
// must still find its batch applied. Returns nothing when $owner lost the claim.
// $key, $owner, $summary: {rows_read, rejected, rows_written, batches}
MATCH (f:IngestFile {id: $key})
WHERE f.owner = $owner
SET f += $summary, f.status = 'done', f.finished_at = datetime()
RETURN f.id AS key

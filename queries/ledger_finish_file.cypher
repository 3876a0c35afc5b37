// Mark a file done and drop its per-batch records (the file record is enough now).
// $key, $summary: {rows_read, rejected, rows_written, batches}
MATCH (f:IngestFile {id: $key})
SET f += $summary, f.status = 'done', f.finished_at = datetime()
WITH f
CALL (f) {
  MATCH (b:IngestBatch {file: f.id})
  DELETE b
}
RETURN f.id AS key

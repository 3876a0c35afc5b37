// Numbers of the batches of a file already applied (by an interrupted load).
// $key: the file's ledger key
MATCH (b:IngestBatch {file: $key})
RETURN b.n AS n

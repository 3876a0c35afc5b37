// Numbers of the batches of one load of a file already applied (by an interrupted load).
// $key: the file's ledger key, $generation: which load of it (a reload counts up)
MATCH (b:IngestBatch {file: $key})
WHERE b.generation = $generation
RETURN b.n AS n

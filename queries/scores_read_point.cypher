// The moment a scoring run reads the graph (gnn/pipeline.py): the server's clock, which
// stamps IngestBatch.at too, and the ingest batches already committed that began in
// the $window seconds before (a batch transaction lives at most that long). A batch
// that began before now but was still open is not among them: the next refresh
// re-scores what it changed (gnn/refresh.py).
// $window: seconds
WITH datetime() AS now
OPTIONAL MATCH (b:IngestBatch) WHERE b.at > now - duration({seconds: $window})
RETURN now, collect(b.id) AS seen

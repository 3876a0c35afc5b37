// What ingest changed after a time (gnn/refresh.py): the batches applied after $since and
// the distinct merchants they touched (each IngestBatch lists them).
// $since: datetime
MATCH (b:IngestBatch) WHERE b.at > $since
UNWIND CASE WHEN size(b.merchants) = 0 THEN [null] ELSE b.merchants END AS merchant
RETURN count(DISTINCT b) AS batches, count(DISTINCT merchant) AS merchants

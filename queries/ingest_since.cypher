// What ingest changed after a time (gnn/refresh.py): the batches applied after $since,
// other than those in $seen (the batches the current run already read), and the
// distinct merchants they touched (each IngestBatch lists them).
// $since: datetime; $seen: [batch id]
MATCH (b:IngestBatch) WHERE b.at > $since AND NOT b.id IN $seen
UNWIND CASE WHEN size(b.merchants) = 0 THEN [null] ELSE b.merchants END AS merchant
RETURN count(DISTINCT b) AS batches, count(DISTINCT merchant) AS merchants

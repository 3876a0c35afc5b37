// The merchants that ingest changed after a time (gnn/refresh.py, an incremental
// refresh re-scores around them): the distinct merchant ids listed by the ingest
// batches applied after $since, in id order, and how many batches that was.
// $since: datetime
MATCH (b:IngestBatch) WHERE b.at > $since
WITH count(b) AS batches, collect(b.merchants) AS lists
RETURN batches,
       COLLECT { UNWIND lists AS list UNWIND list AS id RETURN DISTINCT id ORDER BY id }
         AS merchants

// The merchants that ingest changed after a time (gnn/refresh.py, an incremental
// refresh re-scores around them): the distinct merchant ids listed by the ingest
// batches applied after $since, other than those in $seen (already read by the run
// the refresh builds on), in id order, and how many batches that was.
// $since: datetime; $seen: [batch id]
MATCH (b:IngestBatch) WHERE b.at > $since AND NOT b.id IN $seen
WITH count(b) AS batches, collect(b.merchants) AS lists
RETURN batches,
       COLLECT { UNWIND lists AS list UNWIND list AS id RETURN DISTINCT id ORDER BY id }
         AS merchants

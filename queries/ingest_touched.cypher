// The merchants that ingest changed after a time (gnn/refresh.py, an incremental
// refresh re-scores around them): the distinct merchant ids listed by the ingest
// batches applied after $since, other than those in $seen (already read by the run
// the refresh builds on), in id order, how many batches that was, and how many
// merchants the graph holds (past a share of them, reading the whole graph is faster).
// The ids are unwound batch by batch into one distinct set, in memory as large as the
// answer: rows that carried every batch's list held them all once per id (the first
// scoring after a 100,000-merchant ingest ran out of transaction memory).
// $since: datetime; $seen: [batch id]
MATCH (b:IngestBatch) WHERE b.at > $since AND NOT b.id IN $seen
WITH count(b) AS batches
RETURN batches, COUNT { (:Merchant) } AS in_graph,
       COLLECT { MATCH (b:IngestBatch) WHERE b.at > $since AND NOT b.id IN $seen
                 UNWIND b.merchants AS id RETURN DISTINCT id ORDER BY id } AS merchants

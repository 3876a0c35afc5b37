// Whether one batch was applied; read inside the batch's own write transaction.
// $id: "<file key>:<batch number>"
OPTIONAL MATCH (b:IngestBatch {id: $id})
RETURN b IS NOT NULL AS applied

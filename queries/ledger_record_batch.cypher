// Mark a batch applied, in the same transaction as its writes. CREATE under the
// unique constraint on IngestBatch.id makes a concurrent duplicate fail and roll back.
// $id, $key, $n
CREATE (:IngestBatch {id: $id, file: $key, n: $n, at: datetime()})

// First statement of a batch's write transaction: record the batch under its unique id.
// A concurrent writer of the same batch waits on the id, then finds it (fresh = false)
// and writes nothing. $token is new per attempt, so a retried attempt whose first commit
// did land also finds the batch applied. mine = false when $owner lost the file's claim.
// merchants: the ids of the merchants the batch changes (the refresh job reads them).
// $id: "<file key>:<generation>:<n>", $key, $generation, $n, $token, $owner, $merchants
MATCH (f:IngestFile {id: $key})
MERGE (b:IngestBatch {id: $id})
ON CREATE SET b.file = $key, b.generation = $generation, b.n = $n, b.at = datetime(),
              b.token = $token, b.merchants = $merchants
RETURN f.owner = $owner AS mine, b.token = $token AS fresh

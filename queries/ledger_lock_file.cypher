// Find or create the ledger record of a file and lock it for the rest of the transaction
// (a write takes the node's lock), so the claim that follows reads its holder safely.
// $key: the file's ledger key (content hash and kind)
MERGE (f:IngestFile {id: $key})
ON CREATE SET f.status = 'new', f.generation = 0, f.created_at = datetime()
SET f.locked_at = datetime()

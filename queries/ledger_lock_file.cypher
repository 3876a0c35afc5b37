// Find or create the ledger record of a file and lock it for the rest of the transaction
// (a write takes the node's lock), so the claim that follows reads its holder safely.
// A new record (and one kept from before the file's start was recorded) takes $content,
// so that a load of a file extending this one sees it from the moment it is claimed.
// $key: the file's ledger key (content hash and kind);
// $content: {kind, name, path, sha256, size, head (its first bytes)}
MERGE (f:IngestFile {id: $key})
ON CREATE SET f.status = 'new', f.generation = 0, f.created_at = datetime()
SET f.locked_at = datetime(), f += CASE WHEN f.head IS NULL THEN $content ELSE {} END

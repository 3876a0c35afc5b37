// Start (or find) the ledger record of a file being loaded; returns what it holds,
// so a resumed load keeps the batch size it started with.
// $key, $props: {kind, name, sha256, mapping, batch_size, buckets}
MERGE (f:IngestFile {id: $key})
ON CREATE SET f += $props, f.status = 'loading', f.started_at = datetime()
RETURN f {.*} AS file

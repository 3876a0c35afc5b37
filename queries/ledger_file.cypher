// The ingest ledger's record of one file (null when never seen).
// $key: content hash of the file + kind + mapping
OPTIONAL MATCH (f:IngestFile {id: $key})
RETURN f {.*} AS file

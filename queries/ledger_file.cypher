// The ingest ledger's record of one file (null when never seen), and the seconds since
// its holder's last heartbeat (null when nobody holds it).
// $key: the file's ledger key (content hash and kind)
OPTIONAL MATCH (f:IngestFile {id: $key})
RETURN f {.*} AS file,
       CASE WHEN f.heartbeat IS NULL THEN null
            ELSE duration.inSeconds(f.heartbeat, datetime()).seconds END AS idle_seconds

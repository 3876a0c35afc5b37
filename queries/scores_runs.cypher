// The scoring runs the graph knows, oldest first: 'current' (what readers read),
// 'replaced' (earlier runs; their cluster scores remain as history), 'writing' (under
// way, or died half-written until the next run marks it 'failed'), 'failed'.
// merchant_run: the run id its merchant scores carry (itself, or for an incremental
// run the full run it descends from: queries/scores_flip_incremental.cypher).
MATCH (r:ScoreRun)
RETURN r.id AS run, r.state AS state, r.model_version AS model_version,
       r.scored_at AS scored_at, r.kind AS kind, r.started_at AS started_at,
       r.finished_at AS finished_at, r.data_as_of AS data_as_of,
       coalesce(r.seen_batches, []) AS seen_batches, coalesce(r.merchants, 0) AS merchants,
       coalesce(r.clusters, 0) AS clusters, coalesce(r.merchant_run, r.id) AS merchant_run
ORDER BY r.id

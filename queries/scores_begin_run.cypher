// Open a scoring run (graph/scores.py): its ScoreRun node, in state 'writing' until the
// flip. Writing the same run again (same id) reopens it unless it is already current.
// $as_of: when the run read the graph (ingest after it is not in its scores; null: now).
// $seen: the ingest batches committed when the run read the graph that began in the
// window before it (queries/scores_read_point.cypher).
// $run: the run id; $model_version; $scored_at: datetime; $kind: 'full' | 'incremental'
MERGE (r:ScoreRun {id: $run})
ON CREATE SET r.state = 'writing', r.started_at = datetime(), r.model_version = $model_version,
              r.scored_at = $scored_at, r.kind = $kind,
              r.data_as_of = coalesce($as_of, datetime()), r.seen_batches = $seen
RETURN r.state AS state

// Make an incremental run current, in one transaction (graph/scores.py): the run wrote
// only the merchants and clusters it re-scored; everything else it takes over from
// $base, the run that was current when it began.
// Merchant scores stay where they are: those readers read carry the id of the base's
// merchant_run (the full run the chain descends from), and the run's own scores join
// them, each replacing the merchant's old one, so a refresh that re-scored a few
// merchants moves only theirs. Scores of merchants no longer in the graph (deleted by
// hand) are removed: a scan of every score (0.3 s at 100,000), skipped when the run's
// read matched the graph and found $read_merchants merchants, as many as it holds now.
// Memberships of clusters it did not rewrite move to it; cluster scores it did not
// rewrite are copied (the base's stay, as history) with event 'same'. Clusters in
// $retired (previous clusters whose members all moved) are retired. Fails to match,
// and changes nothing, unless $base is still current.
// $run; $base: the run id it builds on; $retired: [cluster id]; $scored_at: datetime;
// $read_merchants: integer or null (unknown: always look)
MATCH (r:ScoreRun {id: $run}) WHERE r.state IN ['writing', 'current']
MATCH (base:ScoreRun {id: $base, state: 'current'})
WITH r, base, coalesce(base.merchant_run, base.id) AS held
SET base.state = 'replaced', base.replaced_at = datetime()
SET r.state = 'current', r.finished_at = coalesce(r.finished_at, datetime()), r.base = $base,
    r.merchant_run = held
WITH r, held
// First, while no score it reads has changed in this transaction: scanning scores
// changed earlier in the same transaction is ten times slower (100,000: 4.4 s).
CALL () { MATCH (m:Merchant) RETURN count(m) AS merchants_now }
// The counts the run records are taken here, and kept up to date below, not counted
// again at the end: counting what this transaction changed costs as much as changing
// it (100,000 scores: 0.4 s).
CALL (held) {
  MATCH (s:MerchantScore) USING INDEX s:MerchantScore(run) WHERE s.run = held
  RETURN count(s) AS held_before
}
CALL (r) {
  MATCH ()-[i:IN_CLUSTER]->() WHERE i.run = r.id RETURN count(i) AS memberships_own
}
CALL (held, merchants_now) {
  // Not WITH ... WHERE: the planner tested that after the scan, which then always ran.
  UNWIND CASE WHEN $read_merchants IS NULL OR merchants_now <> $read_merchants
              THEN [held] ELSE [] END AS scanned
  MATCH (s:MerchantScore) USING INDEX s:MerchantScore(run) WHERE s.run = scanned
    AND NOT EXISTS { MATCH (:Merchant {id: s.merchant}) }
  DELETE s
  RETURN count(*) AS merchants_gone
}
// A re-scored merchant's old score takes the new values in place, and the run's copy
// goes: deleting the old one and giving the copy its id made the unique index check
// each id against every one removed earlier in the transaction (20,000: 7 s, not 0.9 s).
// The embeddings come from where the run staged them (scores_write_merchants.cypher),
// and each value is set on its own (+=, every property scores_write_merchants.cypher
// writes): a vector that did not move, as the FastRP an incremental run carries over,
// is then no change for its vector index (replacing the whole map was: 0.88 s, not
// 0.64 s, at 100,000 merchants, 2,300 written). A null removes the property.
CALL (r, held) {
  MATCH (s:MerchantScore) USING INDEX s:MerchantScore(run) WHERE s.run = r.id
  OPTIONAL MATCH (old:MerchantScore {id: held + '|' + s.merchant})
  CALL (s, old, held) {
    WITH s, old WHERE old IS NOT NULL
    SET old += {cluster_id: s.cluster_id, ring_score: s.ring_score, pd: s.pd,
                credit_score: s.credit_score, embedding: s.staged_embedding,
                fastrp: s.staged_fastrp, model_version: s.model_version,
                scored_at: s.scored_at}
    DELETE s
  }
  CALL (s, old, held) {
    WITH s, old WHERE old IS NULL
    SET s.run = held, s.id = held + '|' + s.merchant, s.embedding = s.staged_embedding,
        s.fastrp = s.staged_fastrp
    REMOVE s.staged_embedding, s.staged_fastrp
  }
  RETURN count(*) AS merchants_rescored, count(old) AS merchants_replaced
}
CALL (r) {
  MATCH (:Merchant)-[i:IN_CLUSTER]->(c:Cluster) USING INDEX i:IN_CLUSTER(run)
  WHERE i.run = $base AND NOT c.id IN $retired
    AND NOT EXISTS { MATCH (:ClusterScore {id: r.id + '|' + c.id}) }
  SET i.run = r.id
  RETURN count(*) AS memberships_kept
}
CALL (r) {
  MATCH (s:ClusterScore) USING INDEX s:ClusterScore(run) WHERE s.run = $base
    AND NOT s.cluster IN $retired
    AND NOT EXISTS { MATCH (:ClusterScore {id: r.id + '|' + s.cluster}) }
  CREATE (n:ClusterScore)
  SET n = s {.*, id: r.id + '|' + s.cluster, run: r.id, event: 'same', joined: [], left: [],
             merged_from: [], split_into: []}
  RETURN count(*) AS clusters_kept
}
CALL (r) {
  MATCH (s:ClusterScore) WHERE s.run = r.id
  MATCH (c:Cluster {id: s.cluster})
  SET c.last_run = r.id, c.retired_at = null
  RETURN count(*) AS live
}
CALL (r) {
  MATCH (c:Cluster) WHERE c.retired_at IS NULL AND (c.last_run IS NULL OR c.last_run <> r.id)
  SET c.retired_at = $scored_at
  RETURN count(*) AS retired
}
WITH *, held_before - merchants_gone + merchants_rescored - merchants_replaced AS merchants,
     memberships_own + memberships_kept AS memberships
SET r.merchants = merchants, r.clusters = live, r.memberships = memberships
RETURN merchants - merchants_rescored AS merchants_kept, memberships_kept, clusters_kept,
       live, retired, merchants, memberships, held AS merchant_run

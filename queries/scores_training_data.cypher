// What a model was trained on (gnn/artefact.py, data_snapshot): merchants, their labels
// and credit outcomes, and when the last ingest batch was applied.
CALL () { MATCH (b:IngestBatch) RETURN max(b.at) AS last_ingest_at }
CALL () { MATCH (m:Merchant) RETURN count(m) AS merchants }
CALL () {
  MATCH (m:Merchant) WHERE m.label IS NOT NULL
  WITH m.label AS label, count(*) AS n ORDER BY label
  RETURN collect([label, n]) AS labels
}
CALL () {
  MATCH (m:Merchant) WHERE m.defaulted IS NOT NULL
  WITH m.defaulted AS defaulted, count(*) AS n ORDER BY defaulted
  RETURN collect([defaulted, n]) AS defaults
}
RETURN last_ingest_at, merchants, labels, defaults

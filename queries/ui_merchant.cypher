// One merchant and its scores in the current run (ui/views.py); no row when the graph
// holds no merchant $id.
// $id: the merchant id; $run: the run id ('' before the first run)
MATCH (m:Merchant {id: $id})
OPTIONAL MATCH (r:ScoreRun {id: $run})
OPTIONAL MATCH (s:MerchantScore {run: coalesce(r.merchant_run, $run), merchant: $id})
RETURN m.id AS id, m.name AS name, m.category AS category, m.city AS city,
       m.district AS district, toString(m.registered_on) AS registered_on, m.label AS label,
       m.defaulted AS defaulted, s.ring_score AS ring_score, s.pd AS pd,
       s.credit_score AS credit_score, s.cluster_id AS cluster_id

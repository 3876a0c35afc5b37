// What the network picture shows of merchants $ids (ui/ego.py, ui/views.py): name,
// scores in run $run, and volume (paid in plus sold, in yuan, over every week: read
// from the weekly flows, so a dense node costs its weeks, not its links).
// $ids: merchant ids; $run: the run id ('' before the first run)
OPTIONAL MATCH (r:ScoreRun {id: $run})
WITH coalesce(r.merchant_run, $run) AS held
UNWIND $ids AS id
MATCH (m:Merchant {id: id})
OPTIONAL MATCH (s:MerchantScore {run: held, merchant: id})
RETURN id, m.name AS name, m.city AS city, m.category AS category,
       s.ring_score AS ring_score, s.pd AS pd, s.credit_score AS credit_score,
       s.cluster_id AS cluster_id,
       COLLECT { MATCH (w:MerchantWeek {merchant: id})
                 RETURN sum(w.paid_in_amount + w.sold_amount) }[0] AS volume

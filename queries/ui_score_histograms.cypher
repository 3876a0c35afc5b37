// How the current run's merchant scores spread (ui/views.py, the Overview's charts):
// merchants per pair of bins (ring_score bin, pd bin) over [0, 1], binned in the server
// in one pass over the run's scores, so that 100,000 scores cross the wire as at most
// ($bins + 1)^2 rows. A score that is absent has a null bin; empty pairs are absent.
// $run: the run id; $bins: number of bins
OPTIONAL MATCH (r:ScoreRun {id: $run})
WITH coalesce(r.merchant_run, $run) AS held
MATCH (s:MerchantScore) WHERE s.run = held
RETURN toInteger(floor(s.ring_score * $bins)) AS ring_bin,
       toInteger(floor(s.pd * $bins)) AS pd_bin,
       count(*) AS merchants

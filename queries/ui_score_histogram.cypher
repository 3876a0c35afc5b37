// How the current run's merchant scores spread (ui/views.py, the Overview's charts):
// merchants per bin of $field over [0, 1], binned in the server so that 100,000 scores
// cross the wire as $bins numbers. Bins without merchants are absent.
// $run: the run id; $field: 'ring_score' or 'pd'; $bins: number of bins
MATCH (s:MerchantScore) WHERE s.run = $run AND s[$field] IS NOT NULL
WITH toInteger(floor(s[$field] * $bins)) AS b
RETURN CASE WHEN b >= $bins THEN $bins - 1 WHEN b < 0 THEN 0 ELSE b END AS bin,
       count(*) AS merchants
ORDER BY bin

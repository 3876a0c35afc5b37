// Source rows behind the aggregated relationships (the sum of their `count`), and behind
// the weekly flows received (each equals its relationship's when both hold every row).
MATCH ()-[r:PAID]->() RETURN 'PAID' AS type, sum(r.count) AS rows
UNION ALL
MATCH ()-[r:SUPPLIES]->() RETURN 'SUPPLIES' AS type, sum(r.count) AS rows
UNION ALL
MATCH ()-[r:SHIPPED_TO]->() RETURN 'SHIPPED_TO' AS type, sum(r.count) AS rows
UNION ALL
MATCH (w:MerchantWeek) RETURN 'MerchantWeek.paid_in' AS type, sum(w.paid_in_count) AS rows
UNION ALL
MATCH (w:MerchantWeek) RETURN 'MerchantWeek.bought' AS type, sum(w.bought_count) AS rows
UNION ALL
MATCH (w:MerchantWeek) RETURN 'MerchantWeek.received' AS type, sum(w.received_count) AS rows

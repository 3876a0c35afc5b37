// Source rows behind the aggregated relationships: the sum of their `count`.
MATCH ()-[r:PAID]->() RETURN 'PAID' AS type, sum(r.count) AS rows
UNION ALL
MATCH ()-[r:SUPPLIES]->() RETURN 'SUPPLIES' AS type, sum(r.count) AS rows
UNION ALL
MATCH ()-[r:SHIPPED_TO]->() RETURN 'SHIPPED_TO' AS type, sum(r.count) AS rows

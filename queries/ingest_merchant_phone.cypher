// Link merchants to their Phone (from the merchants file), idempotently.
// $links: [{merchant, id}]
UNWIND $links AS l
MATCH (m:Merchant {id: l.merchant})
MERGE (x:Phone {id: l.id})
MERGE (m)-[:USES]->(x)

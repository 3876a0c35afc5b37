// Link merchants to their Address (from the merchants file), idempotently.
// $links: [{merchant, id}]
UNWIND $links AS l
MATCH (m:Merchant {id: l.merchant})
MERGE (x:Address {id: l.id})
MERGE (m)-[:USES]->(x)

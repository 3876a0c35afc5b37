// Link merchants to their ServiceProvider (from the merchants file), idempotently.
// $links: [{merchant, id}]
UNWIND $links AS l
MATCH (m:Merchant {id: l.merchant})
MERGE (x:ServiceProvider {id: l.id})
MERGE (m)-[:ONBOARDED_BY]->(x)

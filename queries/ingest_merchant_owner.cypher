// Link merchants to their Person (from the merchants file), idempotently.
// $links: [{merchant, id}]
UNWIND $links AS l
MATCH (m:Merchant {id: l.merchant})
MERGE (x:Person {id: l.id})
MERGE (m)-[:OWNED_BY]->(x)

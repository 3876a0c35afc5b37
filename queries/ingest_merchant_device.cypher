// Link merchants to their Device (from the merchants file), idempotently.
// $links: [{merchant, id}]
UNWIND $links AS l
MATCH (m:Merchant {id: l.merchant})
MERGE (x:Device {id: l.id})
MERGE (m)-[:USES]->(x)

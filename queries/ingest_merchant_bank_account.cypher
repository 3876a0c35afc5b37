// Link merchants to their BankAccount (from the merchants file), idempotently.
// $links: [{merchant, id}]
UNWIND $links AS l
MATCH (m:Merchant {id: l.merchant})
MERGE (x:BankAccount {id: l.id})
MERGE (m)-[:USES]->(x)

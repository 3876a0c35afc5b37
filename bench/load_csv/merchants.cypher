// LOAD CSV baseline: merchants and their identifiers, the same graph guanxi ingest builds.
LOAD CSV WITH HEADERS FROM $url AS row
CALL (row) {
  MERGE (m:Merchant {id: row.merchant_id})
  SET m.name = row.name, m.category = row.category, m.city = row.city,
      m.district = row.district, m.registered_on = date(nullif(row.registered_on, ''))
  FOREACH (_ IN CASE WHEN row.phone <> '' THEN [1] ELSE [] END |
    MERGE (x:Phone {id: row.phone}) MERGE (m)-[:USES]->(x))
  FOREACH (_ IN CASE WHEN row.device_id <> '' THEN [1] ELSE [] END |
    MERGE (x:Device {id: row.device_id}) MERGE (m)-[:USES]->(x))
  FOREACH (_ IN CASE WHEN row.bank_account <> '' THEN [1] ELSE [] END |
    MERGE (x:BankAccount {id: row.bank_account}) MERGE (m)-[:USES]->(x))
  FOREACH (_ IN CASE WHEN row.address <> '' THEN [1] ELSE [] END |
    MERGE (x:Address {id: row.address}) MERGE (m)-[:USES]->(x))
  FOREACH (_ IN CASE WHEN row.owner_id <> '' THEN [1] ELSE [] END |
    MERGE (x:Person {id: row.owner_id}) MERGE (m)-[:OWNED_BY]->(x))
  FOREACH (_ IN CASE WHEN row.agent_id <> '' THEN [1] ELSE [] END |
    MERGE (x:ServiceProvider {id: row.agent_id}) MERGE (m)-[:ONBOARDED_BY]->(x))
} IN TRANSACTIONS OF 10000 ROWS

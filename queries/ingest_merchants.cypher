// Merchants of one batch and the nodes their columns name, created or updated by id
// (idempotent). Each identifier field is a list of zero or one id.
// $rows: [{id, props: {name, category, city, district, registered_on: date},
//          phone: [id], device_id: [id], bank_account: [id], address: [id],
//          owner_id: [id], agent_id: [id]}]
UNWIND $rows AS r
MERGE (m:Merchant {id: r.id})
SET m += r.props
FOREACH (id IN r.phone | MERGE (x:Phone {id: id}) MERGE (m)-[:USES]->(x))
FOREACH (id IN r.device_id | MERGE (x:Device {id: id}) MERGE (m)-[:USES]->(x))
FOREACH (id IN r.bank_account | MERGE (x:BankAccount {id: id}) MERGE (m)-[:USES]->(x))
FOREACH (id IN r.address | MERGE (x:Address {id: id}) MERGE (m)-[:USES]->(x))
FOREACH (id IN r.owner_id | MERGE (x:Person {id: id}) MERGE (m)-[:OWNED_BY]->(x))
FOREACH (id IN r.agent_id | MERGE (x:ServiceProvider {id: id}) MERGE (m)-[:ONBOARDED_BY]->(x))

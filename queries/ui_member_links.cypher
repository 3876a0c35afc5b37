// The links among merchants $ids (a cluster's members; ui/views.py): payments, supply and
// shipments from one to another, and, as member-to-member links, what two of them share:
// SHARED_PHONE, _DEVICE, _ACCOUNT, _ADDRESS, _OWNER, _AGENT (an identifier of at most
// 50 merchants, as in the scoring's links) and SHARED_PAYERS (consumers paying at most 30
// merchants; weight: how many). Shared links go from the smaller id to the larger.
// $ids: merchant ids
UNWIND $ids AS id
MATCH (a:Merchant {id: id})
CALL (a) {
  MATCH (a)-[r:PAID|SUPPLIES|SHIPPED_TO]->(b:Merchant) WHERE b.id IN $ids AND b <> a
  RETURN b.id AS target, type(r) AS type, coalesce(r.amount, toFloat(r.count)) AS weight,
         r.count AS count
  UNION
  MATCH (a)-[:USES|OWNED_BY|ONBOARDED_BY]->(x)<-[:USES|OWNED_BY|ONBOARDED_BY]-(b:Merchant)
  WHERE b.id IN $ids AND a.id < b.id AND COUNT { (x)<--(:Merchant) } <= 50
  RETURN b.id AS target,
         CASE labels(x)[0] WHEN 'Phone' THEN 'SHARED_PHONE' WHEN 'Device' THEN 'SHARED_DEVICE'
              WHEN 'BankAccount' THEN 'SHARED_ACCOUNT' WHEN 'Address' THEN 'SHARED_ADDRESS'
              WHEN 'Person' THEN 'SHARED_OWNER' ELSE 'SHARED_AGENT' END AS type,
         1.0 AS weight, 1 AS count
  UNION
  MATCH (a)<-[:PAID]-(c:Consumer)-[:PAID]->(b:Merchant)
  WHERE b.id IN $ids AND a.id < b.id AND COUNT { (c)-[:PAID]->() } <= 30
  WITH b, count(DISTINCT c) AS shared
  RETURN b.id AS target, 'SHARED_PAYERS' AS type, toFloat(shared) AS weight, shared AS count
}
RETURN a.id AS source, target, type, weight, count
ORDER BY source, target, type

// Before a merchants file is reloaded (guanxi ingest --reload): remove the identifier
// links of the merchants it lists, so the new reading replaces them instead of adding
// to them, and drop identifier nodes no merchant uses any more. Runs in the same
// transaction as ingest_merchants.
// $ids: merchant ids
UNWIND $ids AS id
MATCH (:Merchant {id: id})-[r:USES|OWNED_BY|ONBOARDED_BY]->(x)
DELETE r
WITH DISTINCT x
WHERE NOT (x)--()
DELETE x

// Before a merchants file is reloaded (guanxi ingest --reload, ingest/load.py): the other
// merchants that share an identifier (phone, device, account, address, owner, agent)
// with the merchants of a batch. The reload may take those links away, which changes
// those merchants too: the batch lists them as touched, for the refresh job.
// $ids: merchant ids
UNWIND $ids AS id
MATCH (:Merchant {id: id})-[:USES|OWNED_BY|ONBOARDED_BY]->(x)
      <-[:USES|OWNED_BY|ONBOARDED_BY]-(o:Merchant)
WHERE NOT o.id IN $ids
RETURN collect(DISTINCT o.id) AS ids

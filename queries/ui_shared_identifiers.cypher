// The merchants that share a phone, device, bank account, address, owner or agent with
// merchant $id (a saved query in the app): what they share, the most widely shared last,
// at most $limit rows.
// $id: the merchant id; $limit
MATCH (m:Merchant {id: $id})-[:USES|OWNED_BY|ONBOARDED_BY]->(x)
      <-[:USES|OWNED_BY|ONBOARDED_BY]-(other:Merchant)
WHERE other <> m
WITH x, other, COUNT { (x)<--(:Merchant) } AS sharing
ORDER BY sharing, other.id
LIMIT $limit
RETURN labels(x)[0] AS identifier, x.id AS value, sharing AS merchants_sharing_it,
       other.id AS merchant_id, other.name AS name, other.city AS city

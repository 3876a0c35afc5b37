// Every merchant id (ingest uses it to tell merchant payers from consumers).
MATCH (m:Merchant) RETURN m.id AS id

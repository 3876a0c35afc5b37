// LOAD CSV baseline: investigators' labels on merchants.
LOAD CSV WITH HEADERS FROM $url AS row
CALL (row) {
  MATCH (m:Merchant {id: row.merchant_id})
  SET m.label = toLower(row.label), m.label_source = row.source,
      m.label_ts = datetime(nullif(row.ts, ''))
} IN TRANSACTIONS OF 10000 ROWS

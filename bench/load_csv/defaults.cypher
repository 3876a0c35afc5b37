// LOAD CSV baseline: observed credit outcomes of merchants.
LOAD CSV WITH HEADERS FROM $url AS row
CALL (row) {
  MATCH (m:Merchant {id: row.merchant_id})
  SET m.defaulted = toInteger(row.defaulted), m.default_observed_on = date(nullif(row.observed_on, ''))
} IN TRANSACTIONS OF 10000 ROWS

// Observed credit outcomes of merchants (defaulted 0 or 1); the later row wins.
// $rows: [{id, defaulted, observed_on: 'YYYY-MM-DD' | null}]
UNWIND $rows AS r
MATCH (m:Merchant {id: r.id})
SET m.defaulted = r.defaulted,
    m.default_observed_on = date(r.observed_on)

// Merchants of one batch: create or update by id (idempotent).
// $rows: [{id, props: {name, category, city, district}, registered_on: 'YYYY-MM-DD' | null}]
UNWIND $rows AS r
MERGE (m:Merchant {id: r.id})
SET m += r.props,
    m.registered_on = coalesce(date(r.registered_on), m.registered_on)

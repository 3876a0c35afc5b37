// One batch's flows per merchant and local week, added to MerchantWeek nodes (created
// as needed). Not idempotent by itself: it runs in the batch's ledger-guarded transaction.
// Properties as graph/model.py lists them (WEEKLY_FLOWS): count and amount of payments
// received (paid_in) and made (paid_out), supply bought and sold, shipments received and
// shipped (amount = weight in kg). Every row carries all twelve, zero where not touched.
// $rows: [{id: '<merchant id>|<Monday>', merchant, week: 'YYYY-MM-DD', flows: {...}}]
UNWIND $rows AS r
MERGE (w:MerchantWeek {id: r.id})
ON CREATE SET w += r.flows, w.merchant = r.merchant, w.week = date(r.week)
ON MATCH SET w.paid_in_count = w.paid_in_count + r.flows.paid_in_count,
             w.paid_in_amount = w.paid_in_amount + r.flows.paid_in_amount,
             w.paid_out_count = w.paid_out_count + r.flows.paid_out_count,
             w.paid_out_amount = w.paid_out_amount + r.flows.paid_out_amount,
             w.bought_count = w.bought_count + r.flows.bought_count,
             w.bought_amount = w.bought_amount + r.flows.bought_amount,
             w.sold_count = w.sold_count + r.flows.sold_count,
             w.sold_amount = w.sold_amount + r.flows.sold_amount,
             w.received_count = w.received_count + r.flows.received_count,
             w.received_amount = w.received_amount + r.flows.received_amount,
             w.shipped_count = w.shipped_count + r.flows.shipped_count,
             w.shipped_amount = w.shipped_amount + r.flows.shipped_amount

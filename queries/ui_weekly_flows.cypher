// The weekly flows of merchants $ids summed per week (ui/views.py): one merchant's
// timeline, or a cluster's. Amounts in yuan; shipments by count and weight (kg).
// $ids: merchant ids (one named twice counts once)
UNWIND $ids AS id
WITH DISTINCT id
MATCH (w:MerchantWeek {merchant: id})
RETURN w.week AS week,
       sum(w.paid_in_count) AS paid_in_count, sum(w.paid_in_amount) AS paid_in_amount,
       sum(w.paid_out_count) AS paid_out_count, sum(w.paid_out_amount) AS paid_out_amount,
       sum(w.bought_count) AS bought_count, sum(w.bought_amount) AS bought_amount,
       sum(w.sold_count) AS sold_count, sum(w.sold_amount) AS sold_amount,
       sum(w.received_count) AS received_count, sum(w.received_amount) AS received_amount,
       sum(w.shipped_count) AS shipped_count, sum(w.shipped_amount) AS shipped_amount
ORDER BY week

// What `similar` needs to know of the merchant it starts from (graph/similar.py):
// whether it exists, whether run $run scored it, and the length of that run's
// embedding of it in property $prop (null: none), and whether that embedding is all
// zeros (no direction: nothing to compare by cosine). One row.
// $id: the merchant id; $run: the run id the merchant scores carry; $prop: 'embedding' or 'fastrp'
OPTIONAL MATCH (m:Merchant {id: $id})
OPTIONAL MATCH (s:MerchantScore {id: $run + '|' + $id})
RETURN m IS NOT NULL AS found, s IS NOT NULL AS scored, size(s[$prop]) AS width,
       s[$prop] IS NOT NULL AND all(x IN s[$prop] WHERE x = 0.0) AS zero

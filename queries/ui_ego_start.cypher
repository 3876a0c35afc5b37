// The element id of merchant $id, where an ego network starts (ui/ego.py); no row when
// the graph holds no such merchant.
// $id: the merchant id
MATCH (m:Merchant {id: $id})
RETURN elementId(m) AS eid, m.id AS id, m.name AS name

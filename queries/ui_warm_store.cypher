// Read every merchant's links, their amounts and counts, and the id and name of the node
// at the other end, once (ui/warm.py), so that the page cache holds what ego networks
// read (ui_ego_expand): the links read and the property values found.
MATCH (m:Merchant)-[r]-(n)
RETURN count(r) AS links, count(r.amount) + count(r.count) + count(n.id) + count(n.name) AS values

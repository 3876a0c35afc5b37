// How are merchants $a and $b connected: their shortest paths (at most 6 steps) over
// links of types $types, at most $limit paths, each as its nodes and links (ui/ego.py,
// and a saved query for users). No row when there is no such path.
// $a, $b: merchant ids; $types: relationship types; $limit
MATCH (a:Merchant {id: $a}), (b:Merchant {id: $b})
MATCH p = allShortestPaths((a)-[*..6]-(b))
WHERE a <> b AND all(r IN relationships(p) WHERE type(r) IN $types)
WITH p LIMIT $limit
RETURN [n IN nodes(p) | {id: n.id, kind: labels(n)[0], name: n.name}] AS nodes,
       [r IN relationships(p) | {source: startNode(r).id, target: endNode(r).id,
                                 type: type(r), amount: r.amount}] AS links

// One step of an ego network (ui/ego.py). For each node in $frontier (element ids): its
// $cap strongest links of types $types (by amount, else count; ties by the neighbour's
// id), and its number of links of each type and direction (degrees from the store, so
// a wholesaler's 50,000 payers are counted, not read) for the "+812 more payers" lines.
// The LIMIT inside the subquery caps what each node returns.
// $frontier: element ids; $types: relationship types; $cap: links per node
UNWIND $frontier AS eid
MATCH (c) WHERE elementId(c) = eid
CALL (c) {
  MATCH (c)-[r]-(n) WHERE type(r) IN $types
  WITH c, r, n ORDER BY coalesce(r.amount, toFloat(r.count), 0.0) DESC, n.id LIMIT $cap
  RETURN collect({eid: elementId(n), id: n.id, kind: labels(n)[0], name: n.name,
                  type: type(r), out: startNode(r) = c, amount: r.amount,
                  count: r.count}) AS links
}
RETURN eid, c.id AS id, links,
       {PAID_out: COUNT { (c)-[:PAID]->() }, PAID_in: COUNT { (c)<-[:PAID]-() },
        SUPPLIES_out: COUNT { (c)-[:SUPPLIES]->() }, SUPPLIES_in: COUNT { (c)<-[:SUPPLIES]-() },
        SHIPPED_TO_out: COUNT { (c)-[:SHIPPED_TO]->() },
        SHIPPED_TO_in: COUNT { (c)<-[:SHIPPED_TO]-() },
        USES_out: COUNT { (c)-[:USES]->() }, USES_in: COUNT { (c)<-[:USES]-() },
        OWNED_BY_out: COUNT { (c)-[:OWNED_BY]->() }, OWNED_BY_in: COUNT { (c)<-[:OWNED_BY]-() },
        ONBOARDED_BY_out: COUNT { (c)-[:ONBOARDED_BY]->() },
        ONBOARDED_BY_in: COUNT { (c)<-[:ONBOARDED_BY]-() }} AS degrees

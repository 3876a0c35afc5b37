// One page of merchants for the export to PyTorch Geometric (graph/export.py), in id
// order after $after, at most $limit, as one row of equal-length lists (Graph.frames).
// collect() skips nulls, which would shift a list against the ids: a property that may
// be absent is collected wrapped in a one-element list and unwrapped again, null kept.
// $ids: null for every merchant, else a list: only those (graph/delta.py).
MATCH (m:Merchant) WHERE m.id > $after AND ($ids IS NULL OR m.id IN $ids)
WITH m ORDER BY m.id LIMIT $limit
RETURN collect(m.id) AS id,
       [x IN collect([m.name]) | x[0]] AS name,
       [x IN collect([m.category]) | x[0]] AS category,
       [x IN collect([m.city]) | x[0]] AS city,
       [x IN collect([m.district]) | x[0]] AS district,
       [x IN collect([toString(m.registered_on)]) | x[0]] AS registered_on,
       [x IN collect([m.label]) | x[0]] AS label,
       [x IN collect([m.defaulted]) | x[0]] AS defaulted

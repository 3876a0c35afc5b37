// The merchants nearest to merchant $id by the cosine of their $prop embeddings among
// the merchant scores that carry run id $run (a run's merchant_run), through the vector index $index (graph/similar.py). The index
// gives its $candidates nearest merchant scores; of those, only run $run's are kept,
// the merchant itself left out. One row: `candidates`, how many the index gave (fewer
// than asked: it holds no more), and `rows`, unordered. `similarity` is the plain
// cosine, -1 to 1 (Neo4j's cosine functions give (1 + cosine) / 2), computed from the
// two embeddings.
// $id; $run: the run id the merchant scores carry; $index: the index name; $prop: its property; $candidates: int
MATCH (q:MerchantScore {id: $run + '|' + $id})
CALL db.index.vector.queryNodes($index, $candidates, q[$prop]) YIELD node
WITH q, collect(node) AS found
RETURN size(found) AS candidates,
       [n IN found WHERE n.run = $run AND n.merchant <> $id | {
           merchant_id: n.merchant,
           similarity: 2 * vector.similarity.cosine(q[$prop], n[$prop]) - 1,
           ring_score: n.ring_score, pd: n.pd, credit_score: n.credit_score,
           cluster_id: n.cluster_id}] AS rows

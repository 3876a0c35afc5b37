// Merchants whose id is $id or whose name matches $text in the full-text index
// merchant_name (cjk analyzer: Chinese names match on parts of two characters or more,
// 面馆 finds 老王面馆), best first, at most $limit (ui/views.py). The exact id ranks first.
// $id: the text as an id; $text: the same as a Lucene query (special characters
// escaped); $limit
CALL () {
  MATCH (m:Merchant {id: $id})
  RETURN m, 1.0e9 AS score
  UNION
  CALL db.index.fulltext.queryNodes('merchant_name', $text, {limit: $limit})
  YIELD node, score
  RETURN node AS m, score
}
WITH m, max(score) AS score
ORDER BY score DESC, m.id
LIMIT $limit
RETURN m.id AS id, m.name AS name, m.city AS city, m.category AS category

// Create the vector index of merchants' FastRP embeddings (graph/similar.py), on the
// fastrp each run's MerchantScore holds, unless an index by that name exists. Neo4j
// 5.26 takes the index name and the options as parameters, not the property.
// $name: the index name
// $options: {indexConfig: {`vector.dimensions`: int, `vector.similarity_function`: 'cosine',
//           `vector.quantization.enabled`: boolean}}
CREATE VECTOR INDEX $name IF NOT EXISTS
FOR (s:MerchantScore) ON (s.fastrp)
OPTIONS $options

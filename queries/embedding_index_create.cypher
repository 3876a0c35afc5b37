// Create the vector index of merchant embeddings (graph/similar.py), on the embedding
// each run's MerchantScore holds, unless an index by that name exists. Neo4j 5.26
// takes the index name and the options as parameters.
// $name: the index name
// $options: {indexConfig: {`vector.dimensions`: int, `vector.similarity_function`: 'cosine',
//           `vector.quantization.enabled`: boolean}}
CREATE VECTOR INDEX $name IF NOT EXISTS
FOR (s:MerchantScore) ON (s.embedding)
OPTIONS $options

// A vector index of merchant embeddings (graph/similar.py): the index named $name, and
// any other vector index on MerchantScore.$prop (there can be one only), with its
// state and configuration (`vector.dimensions`, `vector.similarity_function`, ...).
// $name: the index name; $prop: the property ('embedding' or 'fastrp')
SHOW INDEXES
YIELD name, type, state, populationPercent, labelsOrTypes, properties, options, failureMessage
WHERE name = $name
   OR (type = 'VECTOR' AND labelsOrTypes = ['MerchantScore'] AND properties = [$prop])
RETURN name, type, state, populationPercent AS percent, labelsOrTypes AS labels, properties,
       options.indexConfig AS config, failureMessage AS failure

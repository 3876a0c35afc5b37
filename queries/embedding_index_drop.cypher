// Drop an index of merchant embeddings (graph/similar.py): one of another width or
// configuration, before the index is created again.
// $name: the index name
DROP INDEX $name IF EXISTS

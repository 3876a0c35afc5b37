"""Everything Neo4j: settings, the local server, schema, batched writes, reads."""

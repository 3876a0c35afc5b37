// The Neo4j version the server reports (run against any database, system included).
CALL dbms.components() YIELD versions
RETURN versions[0] AS version

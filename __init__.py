"""guanxi: merchant networks in Neo4j, scored for collusion and group credit."""

__version__ = "0.1.0"

"""Features, clusters, graph neural networks, scoring, evaluation, refresh."""

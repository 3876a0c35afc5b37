// The server's clock: what a scoring run stamps as the moment it read the graph (gnn/
// pipeline.py), so it compares with IngestBatch.at, which the server stamped too.
RETURN datetime() AS now

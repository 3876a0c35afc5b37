// Wait until the index is ONLINE (graph/similar.py); fails after $seconds or when the
// index enters the FAILED state.
// $name: the index name; $seconds: int
CALL db.awaitIndex($name, $seconds)

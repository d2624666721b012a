"""HTTP edge: the resolver every API function uses and the one map from domain errors to answers."""

"""userservice: a user and authentication service over gRPC."""

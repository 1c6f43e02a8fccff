"""The rules: permissions, validation, cache-aside. No gRPC, no protobuf."""

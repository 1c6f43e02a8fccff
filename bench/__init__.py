"""`make bench`: throughput and latency of the hot paths against grpc.aio's empty-RPC ceiling."""

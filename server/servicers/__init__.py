"""gRPC servicers: protobuf in, domain arguments to one service call, protobuf out. Nothing else."""

"""The empty-RPC ceiling: a trivial grpc.aio service with userservice's server options, on uvloop.

Run as `python -m bench.ceiling --port 0`; prints the bound port on stdout, serves until SIGTERM.
The method `/bench.Empty/Call` answers every request with an empty message.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

import grpc
import grpc.aio

from server.config import Settings
from server.runner import run_loop
from server.transport import bind, create_server

EMPTY_METHOD = "/bench.Empty/Call"


async def _empty(request: bytes, context: Any) -> bytes:
    return b""


class _EmptyService(grpc.GenericRpcHandler):  # type: ignore[misc]
    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        if handler_call_details.method == EMPTY_METHOD:
            return grpc.unary_unary_rpc_method_handler(_empty)
        return None


async def serve(port: int) -> int:
    settings = Settings(_env_file=None, port=port, host="127.0.0.1")  # type: ignore[call-arg]
    server = create_server(settings, reuse_port=False)
    server.add_generic_rpc_handlers((_EmptyService(),))
    bound = bind(server, f"127.0.0.1:{port}", None)
    await server.start()
    print(bound, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(1)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    return run_loop(serve(parser.parse_args().port))


if __name__ == "__main__":
    sys.exit(main())

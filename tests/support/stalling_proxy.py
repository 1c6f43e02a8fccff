"""A TCP proxy that can go silent: a dependency that hangs rather than refuses.

`TcpProxy.stop()` refuses connections, which clients notice at once. A network black hole or a
stalled server is worse: connections open, bytes go out, nothing comes back. `stall()` does that
(new connections are accepted and held, live ones stop forwarding, both sides stay open);
`resume()` drops every connection that saw the stall, as a partition that heals leaves them dead,
and forwards new connections again.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from types import TracebackType

_CHUNK = 64 * 1024
_CLOSE_TIMEOUT_SECONDS = 5.0


@dataclass(eq=False)
class _Connection:
    generation: int
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def abort(self) -> None:
        self.client.transport.abort()
        if self.upstream is not None:
            self.upstream.transport.abort()


class StallingProxy:
    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = 0
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        # Bumped by resume(): a connection from an earlier generation saw the stall and dies.
        self._generation = 0
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def stalled(self) -> bool:
        return not self._flowing.is_set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def stall(self) -> None:
        """From now on nothing is forwarded, in either direction, and nothing is closed."""
        self._flowing.clear()

    def resume(self) -> None:
        """Drop every connection that saw the stall; forward new ones again."""
        self._generation += 1
        for connection in list(self._connections):
            connection.abort()
        self._connections.clear()
        self._flowing.set()

    async def close(self) -> None:
        """Stop listening; every connection is dropped and its task ends on its own."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self.resume()
        tasks = list(self._tasks)
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=_CLOSE_TIMEOUT_SECONDS)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> StallingProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _current(self, connection: _Connection) -> bool:
        return connection.generation == self._generation

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        connection = _Connection(self._generation, writer)
        self._connections.add(connection)
        try:
            await self._flowing.wait()  # held open, unanswered, while stalled
            if not self._current(connection):
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError:
                return
            connection.upstream = up_writer
            if not self._current(connection):
                return
            await asyncio.gather(
                self._pipe(connection, reader, up_writer),
                self._pipe(connection, up_reader, writer),
            )
        finally:
            self._connections.discard(connection)
            connection.abort()
            self._tasks.discard(task)

    async def _pipe(
        self, connection: _Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(_CHUNK):
                await self._flowing.wait()  # while stalled, bytes are swallowed, not forwarded
                if not self._current(connection):
                    return
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

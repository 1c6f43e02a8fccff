"""A TCP proxy in front of a dependency, which a test switches between three behaviours.

`Mode.FORWARD`: each connection is forwarded to the target. `Mode.REFUSE`: the proxy stops
listening and drops every live connection, as a database restart or a refused port does; clients
notice at once. `Mode.STALL`: a network black hole or a stalled server, which is worse:
connections open, bytes go out, nothing comes back (new connections are accepted and held, live
ones stop forwarding, both sides stay open). Leaving a stall drops every connection that saw it,
as a partition that heals leaves them dead.

Listens on 127.0.0.1, on a free port chosen when entered and kept across every mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from dataclasses import dataclass
from types import TracebackType

_CHUNK = 64 * 1024
_CLOSE_TIMEOUT_SECONDS = 5.0


class Mode(enum.Enum):
    FORWARD = "forward"
    REFUSE = "refuse"
    STALL = "stall"


@dataclass(eq=False)
class _Connection:
    generation: int
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None

    def abort(self) -> None:
        self.client.transport.abort()
        if self.upstream is not None:
            self.upstream.transport.abort()


class Proxy:
    """`async with Proxy(host, port) as proxy:` forwards on `proxy.port`; `set_mode` switches."""

    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = 0
        self._mode = Mode.REFUSE
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        # Bumped whenever connections are dropped: one from an earlier generation must die.
        self._generation = 0
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def mode(self) -> Mode:
        return self._mode

    async def set_mode(self, mode: Mode) -> None:
        """Switches behaviour; returns once the proxy behaves so (no connection is left over
        from a mode that dropped them)."""
        previous, self._mode = self._mode, mode
        if mode is Mode.REFUSE:
            await self._stop_listening()
            return
        if previous is Mode.STALL and mode is Mode.FORWARD:
            self._drop_connections()
        if mode is Mode.STALL:
            self._flowing.clear()
        else:
            self._flowing.set()
        await self._listen()

    async def __aenter__(self) -> Proxy:
        await self.set_mode(Mode.FORWARD)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.set_mode(Mode.REFUSE)

    async def _listen(self) -> None:
        if self._server is None:
            # The port of the first start on every later one: the clients' address stays valid.
            self._server = await asyncio.start_server(
                self._accept, self.host, self.port, reuse_address=True
            )
            self.port = self._server.sockets[0].getsockname()[1]

    async def _stop_listening(self) -> None:
        """Stops accepting and drops every connection; waits for their tasks to end."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self._drop_connections()
        tasks = list(self._tasks)
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=_CLOSE_TIMEOUT_SECONDS)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    def _drop_connections(self) -> None:
        self._generation += 1
        for connection in list(self._connections):
            connection.abort()
        self._connections.clear()
        # Wakes connections held by a stall: they see the new generation and end.
        self._flowing.set()

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

"""A TCP proxy in front of Redis that can lose one reply: the connection breaks after Redis
has run a command but before the client hears back, as a network fault or a failover would.
"""

from __future__ import annotations

import asyncio


class ReplyDropper:
    """Forwards 127.0.0.1:``port`` to Redis. After :meth:`arm`, the first reply to a command
    containing ``trigger`` is thrown away and that client connection is closed."""

    def __init__(self, redis_port: int, *, trigger: bytes = b"EVALSHA") -> None:
        self.redis_port = redis_port
        self.trigger = trigger
        self.port = 0
        self.dropped = 0
        self._armed = False
        self._server: asyncio.Server | None = None

    async def start(self) -> "ReplyDropper":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def arm(self) -> None:
        self._armed = True

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.redis_port)
        doomed = asyncio.Event()  # set when this connection's next reply is to be lost

        async def requests() -> None:
            while data := await client_reader.read(65536):
                if self._armed and self.trigger in data:
                    self._armed = False
                    doomed.set()
                upstream_writer.write(data)
                await upstream_writer.drain()

        async def replies() -> None:
            while data := await upstream_reader.read(65536):
                if doomed.is_set():
                    self.dropped += 1
                    return  # Redis ran the command; its answer never arrives
                client_writer.write(data)
                await client_writer.drain()

        tasks = [asyncio.create_task(requests()), asyncio.create_task(replies())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for writer in (client_writer, upstream_writer):
                writer.close()
        # Closed without waiting for the peers: a proxy shutting down owes them nothing.

"""A lean HTTP/1.1 client for the freshness scenario's open-loop stream: keep-alive connections
on asyncio streams, responses parsed by httptools (the parser uvicorn serves with). httpx took
about three quarters of a core to send 200 requests a second on this 2-core machine, the core
the services it measures need; this takes a fraction of that.

Only what the scenario sends: a request of known bytes, a response with a Content-Length or
chunked body read whole. A connection idle for longer than ``IDLE`` is closed before use
(uvicorn closes idle ones after 5 s: a request sent on one it is closing would fail)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

IDLE = 3.0  # seconds


class HttpError(Exception):
    pass


@dataclass
class _Response:
    status: int = 0
    body: bytearray = field(default_factory=bytearray)
    done: bool = False

    # httptools' callbacks
    def on_body(self, data: bytes) -> None:
        self.body += data

    def on_message_complete(self) -> None:
        self.done = True


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.used = time.monotonic()

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        response = _Response()
        parser = httptools.HttpResponseParser(response)
        while not response.done:
            data = await self.reader.read(65536)
            if not data:
                raise HttpError("the server closed the connection")
            parser.feed_data(data)
        response.status = parser.get_status_code()
        self.used = time.monotonic()
        if not parser.should_keep_alive():
            self.close()
        return response.status, bytes(response.body)

    @property
    def usable(self) -> bool:
        return not self.writer.is_closing() and time.monotonic() - self.used < IDLE

    def close(self) -> None:
        self.writer.close()


class Client:
    """Up to ``connections`` requests at a time to one origin; more wait for a connection."""

    def __init__(self, base_url: str, connections: int) -> None:
        url = urlsplit(base_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(connections)

    async def post(self, path: str, body: bytes, headers: dict[str, str]
                   ) -> tuple[int, bytes]:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        raw = (f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n{head}"
               f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
               ).encode() + body
        async with self._slots:
            conn = await self._connection()
            try:
                status, answer = await conn.send(raw)
            except BaseException:
                conn.close()
                raise
            if not conn.writer.is_closing():
                self._idle.append(conn)
            return status, answer

    async def _connection(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable:
                return conn
            conn.close()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Connection(reader, writer)

    async def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()

"""An in-process MQTT 3.1.1 broker (amqtt) for machines without Mosquitto.

Two things amqtt 0.12 gets in the way of, handled here rather than in the gateway:

- It reads a whole MQTT 5 CONNECT as if it were 3.1.1 before looking at the protocol level,
  so a v5 client (gmqtt, our ingest) waits forever instead of receiving "unacceptable protocol
  version" and falling back to 3.1.1. We accept connections ourselves, read the CONNECT header
  up to the protocol level, answer anything but 3.1.1 with that refusal (MQTT 3.1.1 §3.1.2.2),
  and hand 3.1.1 connections to amqtt with the bytes we read replayed in front.
- It queues nothing for offline sessions it calls anonymous, and its anonymous-auth plugin
  calls every session anonymous. :class:`LoopbackAuthPlugin` admits every client (the
  listener is loopback only) without that mark, so the gateway's persistent QoS 1 session keeps
  what arrives while it reconnects. Sessions live in memory: they survive a reconnect, not a
  restart of the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from amqtt.adapters import ReaderAdapter, StreamWriterAdapter
from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

log = logging.getLogger(__name__)

MQTT_311 = 4
# CONNACK, remaining length 2, no session present, return code 1 (unacceptable protocol level).
CONNACK_BAD_VERSION = bytes([0x20, 0x02, 0x00, 0x01])
CONNECT_HEAD_TIMEOUT_S = 10.0
_LISTENER = "default"


class LoopbackAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Admit every client of the loopback-only listener as a named (non-anonymous) session."""

    @dataclass
    class Config:
        pass

    async def authenticate(self, *, session: Session) -> bool:
        return True


class _ReplayReader(ReaderAdapter):  # type: ignore[misc]
    """Gives amqtt the bytes already read from the socket, then the socket itself."""

    def __init__(self, head: bytes, reader: asyncio.StreamReader) -> None:
        self._head = head
        self._reader = reader

    async def read(self, n: int = -1) -> bytes:
        if n == -1:
            data, self._head = self._head + await self._reader.read(), b""
            return data
        taken, self._head = self._head[:n], self._head[n:]
        if len(taken) < n:
            taken += await self._reader.readexactly(n - len(taken))
        return taken

    def feed_eof(self) -> None:
        self._reader.feed_eof()


async def read_connect_head(reader: asyncio.StreamReader) -> tuple[bytes, int]:
    """The CONNECT packet's bytes up to and including the protocol level, and that level."""
    head = bytearray(await reader.readexactly(1))
    if head[0] >> 4 != 1:
        raise ValueError("first packet is not CONNECT")
    for _ in range(4):  # remaining length: a variable-byte integer of 1-4 bytes
        byte = await reader.readexactly(1)
        head += byte
        if not byte[0] & 0x80:
            break
    name_length = await reader.readexactly(2)
    head += name_length
    head += await reader.readexactly(int.from_bytes(name_length, "big"))
    level = await reader.readexactly(1)
    head += level
    return bytes(head), level[0]


class AmqttBroker:
    """``async with AmqttBroker(port) as broker:`` serves ``broker.url`` until the block ends."""

    name = "amqtt"

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self._broker: Broker | None = None
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head, level = await asyncio.wait_for(read_connect_head(reader), CONNECT_HEAD_TIMEOUT_S)
        except (asyncio.IncompleteReadError, TimeoutError, ValueError, ConnectionError):
            writer.close()
            return
        if level != MQTT_311:
            with contextlib.suppress(ConnectionError):
                writer.write(CONNACK_BAD_VERSION)
                await writer.drain()
            writer.close()
            return
        assert self._broker is not None
        adapter = StreamWriterAdapter(writer)
        await self._broker.external_connected(_ReplayReader(head, reader), adapter, _LISTENER)

    async def __aenter__(self) -> Self:
        config = {
            # "external": amqtt opens no socket of its own; _accept feeds it connections.
            "listeners": {_LISTENER: {"type": "external"}},
            "plugins": {f"{__name__}.LoopbackAuthPlugin": {}},
        }
        self._broker = Broker(config)
        await self._broker.start()
        try:
            self._server = await asyncio.start_server(self._accept, self.host, self.port)
        except OSError:
            await self._broker.shutdown()
            raise
        log.info("embedded amqtt broker on %s", self.url)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
        if self._broker is not None:
            await self._broker.shutdown()
        if self._server is not None:
            await self._server.wait_closed()

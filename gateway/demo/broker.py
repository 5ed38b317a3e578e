"""The embedded MQTT broker ``firegrid demo`` runs when no broker is configured.

Mosquitto when its binary is installed — the broker a deployment runs, with persistence in the
data dir — otherwise amqtt in-process (see :mod:`gateway.demo.amqtt_broker`). Both listen on
loopback only, on 1883 when it is free and on any free port when it is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import pwd
import shutil
import signal
import socket
import time
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol, Self

from gateway.demo.amqtt_broker import AmqttBroker

log = logging.getLogger(__name__)


class BrokerKind(StrEnum):
    """``--broker``: which embedded broker to run when none is configured."""

    AUTO = "auto"  # Mosquitto when installed, else amqtt
    MOSQUITTO = "mosquitto"
    AMQTT = "amqtt"


MQTT_PORT = 1883
LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class EmbeddedBroker(Protocol):
    name: str

    @property
    def url(self) -> str: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class BrokerError(RuntimeError):
    """The MQTT broker could not be started or reached."""


def mosquitto_binary() -> str | None:
    """``mosquitto`` on PATH, or Debian's /usr/sbin/mosquitto (sbin is not on a user's PATH)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    debian = "/usr/sbin/mosquitto"
    return debian if os.access(debian, os.X_OK) else None


def pick_port(preferred: int = MQTT_PORT, host: str = LOOPBACK) -> int:
    """``preferred`` when nothing listens there, otherwise a free port the kernel picks."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise BrokerError(f"no free port on {host}")


def mosquitto_config(port: int, workdir: Path) -> str:
    """A loopback-only Mosquitto 2 configuration keeping its state in ``workdir``."""
    return (
        f"listener {port} {LOOPBACK}\n"
        # Loopback only, so no credentials: the demo's clients are this process.
        "allow_anonymous true\n"
        # Run as whoever started the demo (as root, Mosquitto would otherwise switch to the
        # 'mosquitto' user, who cannot write to the data dir).
        f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
        "persistence true\n"
        f"persistence_location {workdir}/\n"
        # The default of 1000 queued messages per offline session loses data when the gateway
        # is away for a while under load (ARCHITECTURE.md, known pitfalls).
        "max_queued_messages 1000000\n"
        f"log_dest file {workdir}/mosquitto.log\n"
        "log_type error\nlog_type warning\nlog_type notice\n"
    )


async def _wait_listening(port: int, proc: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise BrokerError(f"mosquitto exited with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection(LOOPBACK, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise BrokerError(f"mosquitto is not listening on {port} after {START_TIMEOUT_S} s")


class MosquittoBroker:
    """A Mosquitto child process with its config, database and log in ``workdir``."""

    name = "mosquitto"

    def __init__(self, binary: str, workdir: Path, port: int) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = port
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{LOOPBACK}:{self.port}"

    def _log_tail(self) -> str:
        parts = []
        for name in ("mosquitto.stderr", "mosquitto.log"):
            path = self.workdir / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-1500:])
        return "\n".join(p for p in parts if p.strip())

    async def __aenter__(self) -> Self:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(mosquitto_config(self.port, self.workdir))
        self._stderr = (self.workdir / "mosquitto.stderr").open("wb")
        self._proc = await asyncio.create_subprocess_exec(
            self.binary,
            "-c",
            str(conf),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self._stderr,
            # Its own session: a Ctrl-C in the terminal reaches the demo, which stops its
            # clients and then this broker, instead of killing the broker under them.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        try:
            await _wait_listening(self.port, self._proc)
        except BaseException as exc:
            await self._stop()
            if isinstance(exc, BrokerError):
                raise BrokerError(f"{exc}\n{self._log_tail()}") from None
            raise
        log.info("embedded mosquitto on %s (state in %s)", self.url, self.workdir)
        return self

    async def _stop(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            # SIGTERM: Mosquitto writes its persistence database, then exits.
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        self._proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()


def embedded_broker(kind: BrokerKind, data_dir: Path) -> EmbeddedBroker:
    """The broker to run for ``--broker kind`` (``auto``: Mosquitto when installed)."""
    binary = mosquitto_binary()
    if kind is BrokerKind.MOSQUITTO and binary is None:
        raise BrokerError("--broker mosquitto: no mosquitto binary (apt-get install mosquitto)")
    port = pick_port()
    if kind is BrokerKind.AMQTT or binary is None:
        return AmqttBroker(port)
    return MosquittoBroker(binary, data_dir / "mosquitto", port)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the demo dies, even by SIGKILL (Linux
    ``PR_SET_PDEATHSIG``; elsewhere nothing), since a new session no longer shares its signals."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

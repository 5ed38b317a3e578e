"""Side-by-side subscriber benchmark: gmqtt vs paho-mqtt vs aiomqtt (plus a raw-socket ceiling).

What is measured
----------------
For every (QoS, client) case the benchmark starts a *fresh* Mosquitto on a free loopback
port, starts the subscriber in its own process, waits until it is subscribed, then starts a
separate publisher process that streams N JSON messages (~120 bytes) to
``devices/sd-XXXXXX/up`` as fast as the broker accepts them.  The subscriber's handler does
``orjson.loads(payload)`` plus a duplicate check on ``seq``.  Inside the subscriber process
the window from the first to the last message is timed with ``time.perf_counter()``
(throughput) and ``time.process_time()`` (CPU of all threads of that process).

Client set-ups (gmqtt exactly as the gateway runs it):

* ``gmqtt``  - MQTT 5, ``optimistic_acknowledgement=False``, ``async def on_message`` that
  returns ``0``; gmqtt sends the PUBACK from the task's done-callback, i.e. after the handler.
  QoS 1 uses ``clean_session=False`` + ``session_expiry_interval``.
* ``paho``   - paho-mqtt 2.2, MQTT 3.1.1, ``loop_start()`` network thread, callback handler;
  QoS 1 uses ``clean_session=False`` and ``manual_ack_set(True)`` + ``ack()`` after the handler.
* ``aiomqtt`` - aiomqtt 2.5, MQTT 3.1.1, ``async for message in client.messages``; QoS 1 uses
  ``clean_session=False`` and the library default acking (paho acks on receipt).
* ``raw``    - reference ceiling, not a candidate: a minimal socket reader with the same
  handler and PUBACKs batched per ``recv()`` after the handlers ran.  It shows how fast the
  broker + publisher harness can go, i.e. whether a client's numbers are client-bound.

QoS 1 correctness check: after the subscriber disconnected, a probe reconnects with the same
client id and ``clean_session=False``; it must find the session (``session present``) and
receive 0 redeliveries, otherwise some PUBACK was never sent.

Run ``python benchmarks/mqtt_clients.py --smoke`` (seconds, CI) or
``python benchmarks/mqtt_clients.py --messages 200000 --output benchmarks/RESULTS-mqtt-clients.md``.
Every wait has a timeout; child processes and brokers are always reaped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import datetime as dt
import json
import os
import platform
import pwd
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any, cast

import orjson

from gateway.ingest import packets as mqtt_packets

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
TOPIC_FILTER = "devices/+/up"
DEVICES = 1000
CLIENTS = ("gmqtt", "paho", "aiomqtt", "firegrid", "raw")
REFERENCE_CLIENTS = frozenset({"raw"})
BASELINE_CLIENT = "gmqtt"
POLL_S = 0.2
READY_LINE = "READY"
RESULT_PREFIX = "RESULT "

# --------------------------------------------------------------------------------------------
# Minimal MQTT 3.1.1 codec (publisher, raw reference receiver, QoS 1 probe)
# --------------------------------------------------------------------------------------------

PUBLISH, PUBACK, SUBACK, PINGRESP, CONNACK = 0x30, 0x40, 0x90, 0xD0, 0x20
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"


def device_payload(seq: int) -> tuple[str, bytes]:
    """Topic and ~120-byte JSON body of smoke-detector uplink number ``seq``."""
    device = seq % DEVICES
    payload = (
        f'{{"device": "sd-{device:06d}", "smoke": false, "battery_pct": {50 + seq % 50}, '
        f'"temp_c": {18 + seq % 90 / 10:.1f}, "rssi": {-40 - seq % 50}, '
        f'"ts": {1_732_000_000 + seq}, "seq": {seq}}}'
    )
    return f"devices/sd-{device:06d}/up", payload.encode()


class RawConnection:
    """Blocking MQTT 3.1.1 socket with a packet reader; just enough for the harness."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    @classmethod
    def open(
        cls, port: int, client_id: str, *, clean_session: bool, timeout: float
    ) -> tuple[RawConnection, bool]:
        """Connect and return (connection, session_present)."""
        sock = socket.create_connection((HOST, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = cls(sock)
        try:
            sock.sendall(
                mqtt_packets.connect(client_id, clean_session=clean_session, keepalive_s=60)
            )
            ptype, body = conn.read_packet(timeout)
            if ptype & 0xF0 != CONNACK or len(body) < 2 or body[1] != 0:
                raise ConnectionError(f"CONNACK refused: type={ptype:#x} body={body!r}")
        except BaseException:
            sock.close()
            raise
        return conn, bool(body[0] & 0x01)

    def read_packet(self, timeout: float) -> tuple[int, bytes]:
        """Next packet as (first byte, body); raises TimeoutError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            parsed = _split_packet(self.buffer)
            if parsed is not None:
                header, body, used = parsed
                self.buffer = self.buffer[used:]
                return header, body
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no MQTT packet within timeout")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("broker closed the connection")
            self.buffer += chunk

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(DISCONNECT_PACKET)
        self.sock.close()


def _split_packet(data: bytes) -> tuple[int, bytes, int] | None:
    """(header, body, bytes used) of the first complete packet in ``data``, else None."""
    length, mult, i = 0, 1, 1
    while True:
        if i >= len(data):
            return None
        byte = data[i]
        length += (byte & 0x7F) * mult
        mult *= 128
        i += 1
        if not byte & 0x80:
            break
    if i + length > len(data):
        return None
    return data[0], data[i : i + length], i + length


# --------------------------------------------------------------------------------------------
# Subscriber side (runs in its own process)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiverConfig:
    client: str
    qos: int
    port: int
    messages: int
    client_id: str
    first_message_timeout_s: float
    idle_timeout_s: float
    total_timeout_s: float


class Sink:
    """The message handler shared by all clients: ``orjson.loads`` + duplicate check."""

    __slots__ = (
        "_on_complete",
        "complete",
        "cpu_end",
        "cpu_start",
        "ctx_end",
        "ctx_start",
        "duplicates",
        "expected",
        "received",
        "seen",
        "unique",
        "wall_end",
        "wall_start",
    )

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.seen = bytearray(expected)
        self.received = 0
        self.unique = 0
        self.duplicates = 0
        self.complete = False
        self.wall_start = self.wall_end = 0.0
        self.cpu_start = self.cpu_end = 0.0
        self.ctx_start = self.ctx_end = (0, 0)
        self._on_complete: Callable[[], object] = lambda: None

    def set_on_complete(self, callback: Callable[[], object]) -> None:
        self._on_complete = callback

    def handle(self, payload: bytes | bytearray) -> None:
        doc = orjson.loads(payload)
        if not self.received:
            self.ctx_start = _context_switches()
            self.wall_start = time.perf_counter()
            self.cpu_start = time.process_time()
        self.received += 1
        seq = doc["seq"]
        if self.seen[seq]:
            self.duplicates += 1
            return
        self.seen[seq] = 1
        self.unique += 1
        if self.unique == self.expected:
            self._mark_end()
            self.complete = True
            self._on_complete()

    def mark_stopped(self) -> None:
        """Close the measurement window early (timeout / stall)."""
        if self.received and not self.complete:
            self._mark_end()

    def _mark_end(self) -> None:
        self.wall_end = time.perf_counter()
        self.cpu_end = time.process_time()
        self.ctx_end = _context_switches()


def _context_switches() -> tuple[int, int]:
    """(voluntary, involuntary) context switches of this process so far.

    Voluntary ones mean the receiver waited for data; involuntary ones mean something else
    took its CPU (noisy neighbour), which lowers msg/s but not CPU per message.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_nvcsw, usage.ru_nivcsw


class Watchdog:
    """Decides when a receiver must give up: no first message, stalled, or out of time."""

    def __init__(self, cfg: ReceiverConfig) -> None:
        self.cfg = cfg
        self.started = self.last_progress = time.monotonic()
        self.last_count = 0

    def stop_reason(self, received: int) -> str | None:
        now = time.monotonic()
        if received != self.last_count:
            self.last_count, self.last_progress = received, now
        if now - self.started > self.cfg.total_timeout_s:
            return f"total timeout ({self.cfg.total_timeout_s:.0f}s)"
        if not received and now - self.started > self.cfg.first_message_timeout_s:
            return f"no message within {self.cfg.first_message_timeout_s:.0f}s"
        if received and now - self.last_progress > self.cfg.idle_timeout_s:
            return f"stalled for {self.cfg.idle_timeout_s:.0f}s"
        return None


def announce_ready() -> None:
    print(READY_LINE, flush=True)


def wait_threaded(sink: Sink, done: threading.Event, cfg: ReceiverConfig) -> str:
    watchdog = Watchdog(cfg)
    while not done.wait(POLL_S):
        reason = watchdog.stop_reason(sink.received)
        if reason:
            return reason
    return "complete"


async def wait_async(sink: Sink, done: asyncio.Event, cfg: ReceiverConfig) -> str:
    watchdog = Watchdog(cfg)
    while True:
        try:
            await asyncio.wait_for(done.wait(), POLL_S)
        except TimeoutError:
            reason = watchdog.stop_reason(sink.received)
            if reason:
                return reason
        else:
            return "complete"


async def receive_gmqtt(cfg: ReceiverConfig, sink: Sink) -> str:
    import gmqtt

    done, subscribed = asyncio.Event(), asyncio.Event()
    sink.set_on_complete(done.set)
    session: dict[str, Any] = {"session_expiry_interval": 3600} if cfg.qos else {}
    client = gmqtt.Client(
        cfg.client_id,
        clean_session=cfg.qos == 0,
        optimistic_acknowledgement=False,
        **session,
    )

    async def on_message(
        _client: Any, _topic: str, payload: bytes, _qos: int, _properties: dict[str, Any]
    ) -> int:
        sink.handle(payload)
        # gmqtt validates the return value as a PUBACK reason code before acking;
        # returning None would silently suppress every PUBACK.
        return 0

    def on_subscribe(_client: Any, _mid: int, _qos: Any, _properties: Any) -> None:
        subscribed.set()

    client.on_message = on_message
    client.on_subscribe = on_subscribe
    await asyncio.wait_for(client.connect(HOST, cfg.port, keepalive=60), timeout=10)
    try:
        client.subscribe(TOPIC_FILTER, qos=cfg.qos)
        await asyncio.wait_for(subscribed.wait(), timeout=10)
        announce_ready()
        outcome = await wait_async(sink, done, cfg)
        await asyncio.sleep(POLL_S)  # let the last PUBACK done-callbacks run
        return outcome
    finally:
        await asyncio.wait_for(client.disconnect(), timeout=10)


def receive_paho(cfg: ReceiverConfig, sink: Sink) -> str:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    done, subscribed = threading.Event(), threading.Event()
    sink.set_on_complete(done.set)
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=cfg.client_id,
        clean_session=cfg.qos == 0,
        protocol=mqtt.MQTTv311,
    )
    manual_ack = cfg.qos > 0
    client.manual_ack_set(manual_ack)

    def on_message(client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        sink.handle(message.payload)
        if manual_ack:
            client.ack(message.mid, message.qos)

    def on_subscribe(*_args: Any) -> None:
        subscribed.set()

    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.connect(HOST, cfg.port, keepalive=60)
    client.loop_start()
    try:
        client.subscribe(TOPIC_FILTER, qos=cfg.qos)
        if not subscribed.wait(10):
            raise TimeoutError("paho: no SUBACK within 10s")
        announce_ready()
        return wait_threaded(sink, done, cfg)
    finally:
        client.disconnect()
        client.loop_stop()


async def receive_aiomqtt(cfg: ReceiverConfig, sink: Sink) -> str:
    import aiomqtt

    done = asyncio.Event()
    sink.set_on_complete(done.set)

    async def consume(client: aiomqtt.Client) -> None:
        async for message in client.messages:
            sink.handle(message.payload)

    async with aiomqtt.Client(
        HOST, cfg.port, identifier=cfg.client_id, clean_session=cfg.qos == 0, timeout=10
    ) as client:
        await client.subscribe(TOPIC_FILTER, qos=cfg.qos, timeout=10)
        announce_ready()
        consumer = asyncio.create_task(consume(client))
        try:
            return await wait_async(sink, done, cfg)
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await consumer


async def receive_firegrid(cfg: ReceiverConfig, sink: Sink) -> str:
    """The gateway's own client (``gateway.ingest.mqtt.MqttIngest``), exactly as it runs."""
    sys.path.insert(0, str(REPO_ROOT))
    from gateway.config import parse_mqtt_url
    from gateway.ingest.mqtt import MqttIngest
    from gateway.metrics import Metrics

    done = asyncio.Event()
    sink.set_on_complete(done.set)

    def handler(_topic: str, payload: bytes, _received_at: float) -> None:
        sink.handle(payload)

    url = parse_mqtt_url(f"mqtt://{HOST}:{cfg.port}")
    client = MqttIngest(url, cfg.client_id, [TOPIC_FILTER], handler, Metrics())
    async with client:
        await asyncio.wait_for(client.wait_connected(), timeout=10)
        announce_ready()
        outcome = await wait_async(sink, done, cfg)
        await asyncio.sleep(POLL_S)  # let the last PUBACKs go out
        return outcome


def receive_raw(cfg: ReceiverConfig, sink: Sink) -> str:
    conn, _ = RawConnection.open(cfg.port, cfg.client_id, clean_session=cfg.qos == 0, timeout=10)
    try:
        conn.sock.sendall(mqtt_packets.subscribe(1, [TOPIC_FILTER], cfg.qos))
        ptype, _body = conn.read_packet(10)
        if ptype & 0xF0 != SUBACK:
            raise ConnectionError(f"expected SUBACK, got {ptype:#x}")
        announce_ready()
        watchdog = Watchdog(cfg)
        sock, pending = conn.sock, conn.buffer
        sock.settimeout(POLL_S)
        while not sink.complete:
            try:
                chunk = sock.recv(1 << 18)
            except TimeoutError:
                chunk = b""
            else:
                if not chunk:
                    return "broker closed the connection"
            if chunk:
                data = pending + chunk if pending else chunk
                used, acks = _handle_publishes(data, sink)
                pending = data[used:]
                if acks:
                    sock.sendall(acks)
            reason = watchdog.stop_reason(sink.received)
            if reason:
                return reason
        return "complete"
    finally:
        conn.close()


def _handle_publishes(data: bytes, sink: Sink) -> tuple[int, bytes]:
    """Feed every complete PUBLISH in ``data`` to ``sink``; PUBACKs go out after the handler."""
    pos, end, acks = 0, len(data), bytearray()
    while True:
        length, mult, i = 0, 1, pos + 1
        while True:
            if i >= end:
                return pos, bytes(acks)
            byte = data[i]
            length += (byte & 0x7F) * mult
            mult *= 128
            i += 1
            if not byte & 0x80:
                break
        stop = i + length
        if stop > end:
            return pos, bytes(acks)
        header = data[pos]
        if header & 0xF0 == PUBLISH:
            start = i + 2 + (data[i] << 8 | data[i + 1])
            if header & 0x06:
                sink.handle(data[start + 2 : stop])
                acks += b"\x40\x02" + data[start : start + 2]
            else:
                sink.handle(data[start:stop])
        pos = stop


def receiver_main(cfg: ReceiverConfig) -> int:
    sink = Sink(cfg.messages)
    if cfg.client == "gmqtt":
        outcome = asyncio.run(receive_gmqtt(cfg, sink))
    elif cfg.client == "paho":
        outcome = receive_paho(cfg, sink)
    elif cfg.client == "aiomqtt":
        outcome = asyncio.run(receive_aiomqtt(cfg, sink))
    elif cfg.client == "firegrid":
        outcome = asyncio.run(receive_firegrid(cfg, sink))
    elif cfg.client == "raw":
        outcome = receive_raw(cfg, sink)
    else:
        raise ValueError(f"unknown client {cfg.client!r}")
    sink.mark_stopped()
    wall = sink.wall_end - sink.wall_start
    cpu = sink.cpu_end - sink.cpu_start
    intervals = max(sink.received - 1, 1)
    result = {
        "outcome": outcome,
        "received": sink.received,
        "unique": sink.unique,
        "duplicates": sink.duplicates,
        "wall_s": wall,
        "cpu_s": cpu,
        "msg_per_s": intervals / wall if wall > 0 else 0.0,
        "cpu_us_per_msg": cpu / intervals * 1e6,
        "voluntary_ctx": sink.ctx_end[0] - sink.ctx_start[0],
        "involuntary_ctx": sink.ctx_end[1] - sink.ctx_start[1],
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0 if outcome == "complete" else 1


# --------------------------------------------------------------------------------------------
# Publisher side (runs in its own process)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublisherConfig:
    port: int
    qos: int
    messages: int
    timeout_s: float


PUB_CHUNK = 512
PUB_WINDOW = 16_384  # unacked QoS 1 publishes; < 65535 so packet ids are never reused


def publisher_main(cfg: PublisherConfig) -> int:
    packets = [
        mqtt_packets.publish(*device_payload(seq), cfg.qos, seq % 65535 + 1)
        for seq in range(cfg.messages)
    ]
    deadline = time.monotonic() + cfg.timeout_s
    conn, _ = RawConnection.open(
        cfg.port, f"bench-pub-{os.getpid()}", clean_session=True, timeout=10
    )
    try:
        started = time.perf_counter()
        if cfg.qos == 0:
            for i in range(0, len(packets), PUB_CHUNK):
                conn.sock.settimeout(max(deadline - time.monotonic(), 0.001))
                conn.sock.sendall(b"".join(packets[i : i + PUB_CHUNK]))
            # The broker handles one connection's packets in order: PINGRESP => all routed.
            conn.sock.sendall(PINGREQ_PACKET)
            while conn.read_packet(max(deadline - time.monotonic(), 0.001))[0] != PINGRESP:
                pass
        else:
            _publish_qos1_windowed(conn, packets, deadline)
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    summary = {"published": len(packets), "seconds": elapsed, "msg_per_s": len(packets) / elapsed}
    print(RESULT_PREFIX + json.dumps(summary), flush=True)
    return 0


def _publish_qos1_windowed(conn: RawConnection, packets: list[bytes], deadline: float) -> None:
    sock, sent, acked, pending = conn.sock, 0, 0, conn.buffer
    while acked < len(packets):
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        if sent < len(packets) and sent - acked + PUB_CHUNK <= PUB_WINDOW:
            batch = packets[sent : sent + PUB_CHUNK]
            sock.sendall(b"".join(batch))
            sent += len(batch)
            # Collect PUBACKs only if some are already there; never stall the stream.
            # (MSG_DONTWAIT would not help: a socket with a timeout polls before recv.)
            if not select.select([sock], [], [], 0)[0]:
                continue
            chunk = sock.recv(1 << 16)
        else:
            chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("broker closed the publisher connection")
        pending += chunk
        complete = len(pending) - len(pending) % 4
        if pending[0:complete:4].strip(b"\x40"):  # every 4-byte unit must be a PUBACK
            raise ConnectionError(f"unexpected packet in PUBACK stream: {pending[:8]!r}")
        acked += complete // 4
        pending = pending[complete:]


# --------------------------------------------------------------------------------------------
# Orchestrator
# --------------------------------------------------------------------------------------------


def _child_setup(cpus: frozenset[int] | None) -> Callable[[], None]:
    """preexec_fn: die with the orchestrator (PR_SET_PDEATHSIG) and optionally pin CPUs."""

    def setup() -> None:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PDEATHSIG
        if cpus:
            os.sched_setaffinity(0, cpus)

    return setup


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _reap(proc: subprocess.Popen[Any], grace_s: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(grace_s)


@contextlib.contextmanager
def mosquitto_broker(binary: str, cpus: frozenset[int] | None) -> Iterator[int]:
    """A throw-away Mosquitto on a free loopback port; yields the port."""
    with tempfile.TemporaryDirectory(prefix="firegrid-mqtt-bench-") as tmp:
        for _attempt in range(3):
            port = _free_port()
            conf = Path(tmp) / "mosquitto.conf"
            conf.write_text(
                f"listener {port} {HOST}\n"
                "allow_anonymous true\n"
                # Keep our uid: a root mosquitto would drop to user "mosquitto", and a
                # credential change clears PR_SET_PDEATHSIG (no cleanup if we get SIGKILLed).
                f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
                "persistence false\n"
                "max_queued_messages 0\n"
                "max_queued_bytes 0\n"
                "max_inflight_messages 0\n"
                "log_dest stderr\n"
                "log_type error\n"
                "log_type warning\n"
            )
            log = (Path(tmp) / "mosquitto.log").open("wb")
            proc = subprocess.Popen(
                [binary, "-c", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                preexec_fn=_child_setup(cpus),
            )
            try:
                if _wait_for_port(port, proc, timeout_s=5.0):
                    yield port
                    return
            finally:
                _reap(proc)
                log.close()
        raise RuntimeError(f"mosquitto did not start: {(Path(tmp) / 'mosquitto.log').read_text()}")


def _wait_for_port(port: int, proc: subprocess.Popen[Any], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False


def _spawn(
    role: str,
    cfg: ReceiverConfig | PublisherConfig,
    cpus: frozenset[int] | None,
    stderr: IO[bytes],
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), role, json.dumps(asdict(cfg))],
        stdout=subprocess.PIPE,
        stderr=stderr,
        preexec_fn=_child_setup(cpus),
    )


def _wait_for_line(proc: subprocess.Popen[bytes], expected: str, timeout_s: float) -> bool:
    """Read the child's stdout until ``expected`` appears, the child exits, or timeout."""
    assert proc.stdout is not None
    fd, seen = proc.stdout.fileno(), b""
    deadline = time.monotonic() + timeout_s
    while (remaining := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            return False
        seen += chunk
        if expected.encode() + b"\n" in seen:
            return True
    return False


def _finish(proc: subprocess.Popen[bytes], timeout_s: float) -> dict[str, Any] | None:
    """Wait for the child's RESULT line; kill it on timeout."""
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _reap(proc, grace_s=2.0)
        return None
    for line in out.decode(errors="replace").splitlines():
        if line.startswith(RESULT_PREFIX):
            return cast(dict[str, Any], json.loads(line[len(RESULT_PREFIX) :]))
    return None


def probe_unacked(port: int, client_id: str) -> tuple[bool, int]:
    """Resume the subscriber's session; return (session_present, redelivered messages)."""
    conn, present = RawConnection.open(port, client_id, clean_session=False, timeout=5)
    redelivered, deadline = 0, time.monotonic() + 15
    try:
        while time.monotonic() < deadline:
            ptype, _ = conn.read_packet(timeout=1.0)
            redelivered += ptype & 0xF0 == PUBLISH
    except TimeoutError:
        pass
    finally:
        conn.close()
    return present, redelivered


@dataclass
class CaseResult:
    client: str
    qos: int
    repeat: int
    ok: bool
    error: str = ""
    receiver: dict[str, Any] = field(default_factory=dict)
    publisher: dict[str, Any] = field(default_factory=dict)
    session_present: bool | None = None
    redelivered: int | None = None


@dataclass(frozen=True)
class Plan:
    messages: int
    repeats: int
    qos_levels: tuple[int, ...]
    clients: tuple[str, ...]
    mosquitto: str
    pin: bool


def run_case(plan: Plan, client: str, qos: int, repeat: int) -> CaseResult:
    result = CaseResult(client=client, qos=qos, repeat=repeat, ok=False)
    ncpu = os.cpu_count() or 1
    pin = plan.pin and ncpu >= 2
    receiver_cpus = frozenset({ncpu - 1}) if pin else None
    harness_cpus = frozenset(range(ncpu - 1)) if pin else None
    total_timeout = 30 + plan.messages / 2_000  # assumes >= 2k msg/s
    client_id = f"bench-{client}-q{qos}-{repeat}-{os.getpid()}"
    with (
        mosquitto_broker(plan.mosquitto, harness_cpus) as port,
        tempfile.TemporaryFile() as recv_err,
        tempfile.TemporaryFile() as pub_err,
    ):
        rcfg = ReceiverConfig(client, qos, port, plan.messages, client_id, 30, 5, total_timeout)
        pcfg = PublisherConfig(port, qos, plan.messages, total_timeout)
        receiver = _spawn("_receiver", rcfg, receiver_cpus, recv_err)
        publisher: subprocess.Popen[bytes] | None = None
        try:
            if not _wait_for_line(receiver, READY_LINE, timeout_s=30):
                result.error = "receiver not ready: " + _tail(recv_err)
                return result
            publisher = _spawn("_publisher", pcfg, harness_cpus, pub_err)
            result.publisher = _finish(publisher, total_timeout + 15) or {}
            result.receiver = _finish(receiver, total_timeout + 15) or {}
            if not result.publisher:
                result.error = "publisher failed: " + _tail(pub_err)
            elif not result.receiver:
                result.error = "receiver failed: " + _tail(recv_err)
            elif result.receiver["outcome"] != "complete":
                result.error = f"receiver: {result.receiver['outcome']}"
            if qos and result.receiver:
                try:
                    result.session_present, result.redelivered = probe_unacked(port, client_id)
                except OSError as exc:
                    result.error = result.error or f"QoS 1 session probe failed: {exc!r}"
                if result.session_present is False:
                    result.error = result.error or "QoS 1 session was not persistent"
                elif result.redelivered:
                    result.error = result.error or f"{result.redelivered} messages never acked"
            result.ok = not result.error
            return result
        finally:
            for proc in (publisher, receiver):
                if proc is not None:
                    _reap(proc, grace_s=2.0)


def _tail(stream: IO[bytes], limit: int = 800) -> str:
    stream.seek(0)
    return stream.read().decode(errors="replace")[-limit:].strip() or "(no stderr)"


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    client: str
    qos: int
    msg_per_s: float
    msg_per_s_min: float
    msg_per_s_max: float
    cpu_us: float
    cpu_util: float
    max_rss_mb: float
    runs_ok: int
    runs: int


def summarise(results: Sequence[CaseResult], plan: Plan) -> list[Summary]:
    rows = []
    for qos in plan.qos_levels:
        for client in plan.clients:
            runs = [r for r in results if r.client == client and r.qos == qos]
            good = [r.receiver for r in runs if r.ok]
            if not good:
                rows.append(Summary(client, qos, 0, 0, 0, 0, 0, 0, 0, len(runs)))
                continue
            rates = [g["msg_per_s"] for g in good]
            rows.append(
                Summary(
                    client=client,
                    qos=qos,
                    msg_per_s=statistics.median(rates),
                    msg_per_s_min=min(rates),
                    msg_per_s_max=max(rates),
                    cpu_us=statistics.median(g["cpu_us_per_msg"] for g in good),
                    cpu_util=statistics.median(g["cpu_s"] / g["wall_s"] for g in good),
                    max_rss_mb=max(g["max_rss_mb"] for g in good),
                    runs_ok=len(good),
                    runs=len(runs),
                )
            )
    return rows


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in ("gmqtt", "paho-mqtt", "aiomqtt", "orjson"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def machine_info(mosquitto: str) -> dict[str, str]:
    cpu_model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    proc = subprocess.run([mosquitto, "-h"], capture_output=True, text=True, timeout=10)
    broker = next((ln for ln in proc.stdout.splitlines() if "version" in ln), "unknown").strip()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model,
        "cores": str(os.cpu_count()),
        "kernel": f"{platform.system()} {platform.release()}",
        "broker": broker,
        "load average at end (1/5/15 min)": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        **_versions(),
    }


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}×" if base > 0 and value > 0 else "n/a"


REPORT_NOTES = """\
How to read this:

* **CPU µs/msg is the primary metric.** It is the receiver process's own CPU time, so it
  barely moves when other processes share the machine. msg/s does: compare the involuntary
  context switches per run (time taken away by neighbours) in the details below.
* **Who was the bottleneck?** A run with ~0 voluntary context switches never waited for data,
  i.e. the client itself, not broker or publisher, limited msg/s. The `raw` reference waits a
  lot (high voluntary count, CPU util < 100 %): its msg/s is the harness ceiling.
* **Acknowledgement semantics differ** (QoS 1): gmqtt (MQTT 5, `optimistic_acknowledgement=
  False`, async `on_message` returning 0) and paho (`manual_ack_set(True)`, `ack()` after the
  handler) send PUBACK only after the handler ran; aiomqtt 2.5 has no manual ack - paho acks
  on receipt, before the application has seen the message. `raw` acks after the handler,
  batched per `recv()`.
* paho and aiomqtt run MQTT 3.1.1 (their default and the cheaper protocol to parse); gmqtt
  must use MQTT 5 because it forces optimistic acks below MQTT 5.
* QoS 1 runs are only "ok" if a probe that resumes the subscriber's session afterwards finds
  it (`session present`) and receives 0 redelivered messages, i.e. every PUBACK was sent.
"""


def render_markdown(
    plan: Plan, rows: Sequence[Summary], results: Sequence[CaseResult], command: str
) -> str:
    info = machine_info(plan.mosquitto)
    lines = [
        "# MQTT subscriber clients: gmqtt vs paho-mqtt vs aiomqtt",
        "",
        f"Generated by `benchmarks/mqtt_clients.py` — command: `{command}`",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in info.items()),
        "",
        f"{plan.messages} messages per run, {plan.repeats} run(s) per case, median reported; "
        f"receiver pinned to its own core: {'yes' if plan.pin else 'no'}. "
        "msg/s and CPU are measured inside the receiver process from its first to its last "
        "message; the handler is `orjson.loads` + a duplicate check. "
        "`raw` is a minimal socket reader (reference ceiling of the harness, not a candidate).",
        "",
        "| QoS | client | msg/s (median) | min–max | CPU µs/msg | msg/s ÷ gmqtt "
        "| CPU/msg ÷ gmqtt | receiver CPU util | max RSS MB | runs ok |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        base = next((r for r in rows if r.qos == row.qos and r.client == BASELINE_CLIENT), None)
        name = f"{row.client} (reference)" if row.client in REFERENCE_CLIENTS else row.client
        lines.append(
            f"| {row.qos} | {name} | {row.msg_per_s:,.0f} | "
            f"{row.msg_per_s_min:,.0f}–{row.msg_per_s_max:,.0f} | {row.cpu_us:.1f} | "
            f"{_ratio(row.msg_per_s, base.msg_per_s) if base else 'n/a'} | "
            f"{_ratio(row.cpu_us, base.cpu_us) if base else 'n/a'} | "
            f"{row.cpu_util:.0%} | {row.max_rss_mb:.0f} | {row.runs_ok}/{row.runs} |"
        )
    lines += [
        "",
        "<details><summary>Every run</summary>",
        "",
        "| QoS | client | run | ok | received | dup | msg/s | CPU µs/msg | ctx switches "
        "vol/invol | publisher msg/s | session present | redelivered | error |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for r in results:
        rec, pub = r.receiver, r.publisher
        lines.append(
            f"| {r.qos} | {r.client} | {r.repeat} | {'yes' if r.ok else 'NO'} | "
            f"{rec.get('received', 0)} | {rec.get('duplicates', 0)} | "
            f"{rec.get('msg_per_s', 0):,.0f} | {rec.get('cpu_us_per_msg', 0):.1f} | "
            f"{rec.get('voluntary_ctx', 0)}/{rec.get('involuntary_ctx', 0)} | "
            f"{pub.get('msg_per_s', 0):,.0f} | "
            f"{'' if r.session_present is None else r.session_present} | "
            f"{'' if r.redelivered is None else r.redelivered} | {r.error[:120]} |"
        )
    lines += ["", "</details>", "", REPORT_NOTES]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _csv(kind: Callable[[str], Any]) -> Callable[[str], tuple[Any, ...]]:
    return lambda text: tuple(kind(part) for part in text.split(",") if part)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=200_000, help="messages per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per (client, QoS)")
    parser.add_argument("--smoke", action="store_true", help="tiny CI run: 3000 msgs, 1 run")
    parser.add_argument("--qos", type=_csv(int), default=(0, 1), help="e.g. 0,1")
    parser.add_argument("--clients", type=_csv(str), default=CLIENTS, help=",".join(CLIENTS))
    parser.add_argument("--mosquitto", default=shutil.which("mosquitto") or "/usr/sbin/mosquitto")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the receiver's CPU")
    parser.add_argument("--output", type=Path, help="write the Markdown report here")
    args = parser.parse_args(argv)
    if args.smoke:
        args.messages, args.repeats = 3_000, 1
    unknown = set(args.clients) - set(CLIENTS)
    if unknown or not set(args.qos) <= {0, 1} or args.messages < 2 or args.repeats < 1:
        parser.error(f"bad arguments (unknown clients: {sorted(unknown)})")
    return args


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(143)  # unwinds the context managers, which reap children and brokers


def main(argv: Sequence[str]) -> int:
    if len(argv) == 2 and argv[0] == "_receiver":
        return receiver_main(ReceiverConfig(**json.loads(argv[1])))
    if len(argv) == 2 and argv[0] == "_publisher":
        return publisher_main(PublisherConfig(**json.loads(argv[1])))

    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    plan = Plan(
        messages=args.messages,
        repeats=args.repeats,
        qos_levels=tuple(args.qos),
        clients=tuple(args.clients),
        mosquitto=args.mosquitto,
        pin=not args.no_pin and (os.cpu_count() or 1) >= 2,
    )
    results: list[CaseResult] = []
    for repeat in range(1, plan.repeats + 1):
        for qos in plan.qos_levels:
            for client in plan.clients:
                res = run_case(plan, client, qos, repeat)
                rate = res.receiver.get("msg_per_s", 0.0)
                cpu = res.receiver.get("cpu_us_per_msg", 0.0)
                status = "ok" if res.ok else f"FAILED: {res.error}"
                print(
                    f"run {repeat}/{plan.repeats} qos={qos} {client:8s} "
                    f"{rate:>10,.0f} msg/s {cpu:7.1f} µs/msg  {status}",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(res)
    command = "python benchmarks/mqtt_clients.py " + " ".join(argv)
    report = render_markdown(plan, summarise(results, plan), results, command.strip())
    print(report)
    if args.output:
        args.output.write_text(report)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

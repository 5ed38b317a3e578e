"""A fast QoS 1 publisher in its own process: devices' uplinks, pre-encoded, on one socket.

paho-mqtt tops out at a few thousand QoS 1 messages a second per process, less than the
gateway takes; this speaks just enough MQTT 3.1.1 (CONNECT, PUBLISH QoS 1, PUBACK) to stream
pre-built packets as fast as the broker acknowledges them, or at a fixed rate.

    python -m benchmarks.pipeline.mqttpub --port 1883 --input msgs.bin [--rate 10000]

Prints ``READY`` once connected and every packet is built, starts on a line from stdin (the
caller reads the gateway's CPU time in between), and ends with ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from pathlib import Path

from benchmarks.pipeline.workload import read_messages
from gateway.ingest import packets as mqtt_packets

CHUNK = 256  # packets per send() call
MAX_MID = 65535


class Acks(threading.Thread):
    """Counts the broker's PUBACKs (4 bytes each; nothing else arrives on this socket)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.count = 0
        self.last_at = 0.0
        self.error: str | None = None

    def run(self) -> None:
        pending = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    self.error = "broker closed the connection"
                    return
                pending += chunk
                whole = len(pending) // 4 * 4
                if any(pending[i] != 0x40 for i in range(0, whole, 4)):
                    self.error = f"unexpected packet from broker: {pending[:8].hex()}"
                    return
                self.count += whole // 4
                self.last_at = time.time()
                pending = pending[whole:]
        except OSError as exc:
            self.error = str(exc)


def publish(
    port: int, packets: list[bytes], rate: float, window: int, client_id: str, timeout: float
) -> dict[str, object]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(mqtt_packets.connect(client_id, clean_session=True, keepalive_s=60))
    connack = sock.recv(4)
    if len(connack) < 4 or connack[0] != 0x20 or connack[3] != 0:
        raise ConnectionError(f"CONNACK refused: {connack.hex()}")
    sock.settimeout(None)
    acks = Acks(sock)
    acks.start()
    print("READY", flush=True)
    sys.stdin.readline()
    start = time.time()
    sent = 0
    total = len(packets)
    deadline = time.monotonic() + timeout
    while sent < total:
        if acks.error or time.monotonic() > deadline:
            break
        room = window - (sent - acks.count)
        due = total if rate <= 0 else min(total, int((time.time() - start) * rate) + 1)
        n = min(CHUNK, room, due - sent)
        if n <= 0:
            wait = 0.0 if room <= 0 else (sent + 1) / rate - (time.time() - start)
            time.sleep(max(0.0005, wait))
            continue
        sock.sendall(b"".join(packets[sent : sent + n]))
        sent += n
    last_sent = time.time()
    while acks.count < sent and not acks.error and time.monotonic() < deadline:
        time.sleep(0.001)
    error = acks.error or (None if sent == total else "timed out")
    acked = acks.count
    sock.sendall(b"\xe0\x00")  # DISCONNECT: the broker closing the socket is expected now
    sock.close()
    return {
        "sent": sent,
        "acked": acked,
        "start": start,
        "last_sent": last_sent,
        "last_ack": acks.last_at,
        "rate": sent / max(last_sent - start, 1e-9),
        "error": error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=0.0, help="messages/s; 0: as fast as acked")
    parser.add_argument("--window", type=int, default=20_000, help="unacknowledged at most")
    parser.add_argument("--client-id", default="bench-pub")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    window = min(args.window, MAX_MID - 1)
    packets = [
        mqtt_packets.publish(topic, payload, 1, i % MAX_MID + 1)
        for i, (topic, payload) in enumerate(read_messages(args.input))
    ]
    result = publish(args.port, packets, args.rate, window, args.client_id, args.timeout)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

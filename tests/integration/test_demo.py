"""``firegrid demo`` as a user runs it: a subprocess on a fresh data dir, embedded defaults.

Each run must exit 0 and leave readings of every kind — smoke, electrical, water, patrol — in
its store, from every one of the seven shipped profiles, with the bad messages refused; and
its incidents must be opened, dispatched and walked round to ``closed`` by the simulated
responders, through the REST API.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import httpx
import pytest

from gateway.demo.broker import mosquitto_binary
from tests.servers.influxdb import InfluxServer
from tests.servers.mosquitto import MosquittoServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KINDS = {"smoke", "electrical", "water", "patrol"}
PREFIXES = {"sd", "z2m", "nb", "ef", "wp", "wl", "tag"}  # one per shipped profile
RUN_TIMEOUT_S = 90.0


def _command(data_dir: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gateway.demo",
        "--data-dir",
        str(data_dir),
        "--api-port",
        "0",
        "--no-live",
        *args,
    ]


def _environment(**extra: str) -> dict[str, str]:
    """The caller's environment without FIREGRID_* settings: the demo's own defaults apply."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("FIREGRID_")}
    return kept | extra


def run_demo(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(data_dir, "--duration", "5", *args),
        cwd=REPO,
        env=_environment(**env),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def stored(data_dir: Path) -> list[tuple[str, str]]:
    """(device, measurement) of every reading in the embedded SQLite history."""
    with sqlite3.connect(data_dir / "history.sqlite") as db:
        return list(db.execute("SELECT device, measurement FROM readings"))


def summary(stdout: str, name: str) -> str:
    found = re.search(rf"^  {name}: (.*)$", stdout, re.MULTILINE)
    assert found, f"no '{name}:' line in the final summary:\n{stdout}"
    return found.group(1)


def assert_a_full_run(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "firegrid demo stopped after" in result.stdout
    readings = dict(p.split("=") for p in summary(result.stdout, "readings").split())
    assert set(readings) >= KINDS, readings
    received, published = map(int, re.findall(r"\d+", summary(result.stdout, "messages")))
    assert received >= published > 0
    assert "unknown_device=" in summary(result.stdout, "rejected")
    assert re.match(
        r"\d+ opened, \d+ dispatched, \d+ escalated", summary(result.stdout, "incidents")
    )
    assert summary(result.stdout, "closed")  # "none" in a short run: closing takes ~20 s


def assert_every_kind_stored(data_dir: Path) -> None:
    rows = stored(data_dir)
    assert {measurement for _, measurement in rows} >= KINDS
    assert {device.split("-")[0] for device, _ in rows} >= PREFIXES


def refused(url: str) -> bool:
    host, port = url.removeprefix("mqtt://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


def test_with_embedded_mosquitto_every_kind_of_reading_is_stored(tmp_path: Path) -> None:
    assert mosquitto_binary(), "install the Debian package 'mosquitto' (scripts/test.sh does)"
    data = tmp_path / "demo"
    result = run_demo(data, "--broker", "mosquitto")
    assert_a_full_run(result)
    assert "(embedded mosquitto)" in result.stdout
    assert_every_kind_stored(data)
    conf = (data / "mosquitto" / "mosquitto.conf").read_text()
    assert re.search(r"^listener \d+ 127\.0\.0\.1$", conf, re.MULTILINE)
    assert "max_queued_messages 1000000" in conf
    assert (data / "mosquitto" / "mosquitto.db").exists(), "persistence saved on shutdown"
    broker = re.search(r"MQTT broker  (mqtt://\S+)", result.stdout)
    assert broker and refused(broker.group(1)), "the embedded broker has stopped"


def test_with_the_in_process_amqtt_broker_every_kind_of_reading_is_stored(
    tmp_path: Path,
) -> None:
    data = tmp_path / "demo"
    result = run_demo(data, "--broker", "amqtt")
    assert_a_full_run(result)
    assert "(embedded amqtt)" in result.stdout
    assert_every_kind_stored(data)
    assert not (data / "mosquitto").exists()


def test_a_second_run_on_the_same_data_dir_reuses_the_registry(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    assert run_demo(data, "--devices", "7").returncode == 0
    again = run_demo(data, "--devices", "7")
    assert_a_full_run(again)
    assert "(0 created," in again.stdout


def test_against_configured_servers_nothing_is_embedded(
    tmp_path: Path, mosquitto: MosquittoServer, influxdb: InfluxServer
) -> None:
    db = f"demo_{uuid.uuid4().hex[:8]}"
    result = run_demo(
        tmp_path / "demo",
        "--mqtt-url",
        mosquitto.url,
        "--influx-url",
        influxdb.url,
        "--influx-api",
        "v1",
        FIREGRID_INFLUX_DB=db,
    )
    assert_a_full_run(result)
    assert f"{mosquitto.url} (configured)" in result.stdout
    assert not (tmp_path / "demo" / "history.sqlite").exists()
    measurements = {row["name"] for row in influxdb.query("SHOW MEASUREMENTS", db=db)}
    assert measurements >= KINDS


class Running:
    """A demo started with ``--duration 0``, its stdout read line by line as it comes."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.stderr_path = data_dir.parent / "demo.stderr"
        with self.stderr_path.open("w") as stderr:
            self.proc = subprocess.Popen(
                _command(data_dir, "--duration", "0"),
                cwd=REPO,
                env=_environment(),
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,  # a process group of its own, as in a terminal
            )
        self.lines: Queue[str | None] = Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)  # end of output

    def wait_for_line(self, pattern: str, within: float = 60.0) -> re.Match[str]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except Empty:
                continue
            if line is None:
                break
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no line matching {pattern!r} within {within} s: {self.seen}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def closed_by_people(api: str, headers: dict[str, str]) -> dict[str, Any] | None:
    """A fire incident the responders walked round the loop, with its timeline, if one is."""
    params = {"status": "closed", "kind": "fire"}
    for incident in httpx.get(f"{api}/incidents", params=params, headers=headers, timeout=5).json():
        if incident["outcome"] in ("false_alarm", "fire"):
            found: dict[str, Any] = httpx.get(
                f"{api}/incidents/{incident['id']}", headers=headers, timeout=5
            ).json()
            return found
    return None


def poll(probe: Callable[[], Any], what: str, within: float) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {within} s")


def assert_walked_round_the_loop(incident: dict[str, Any]) -> None:
    """Dispatched to the grid worker and the nearest station; that worker accepted, arrived
    and handled it; the duty officer verified and closed it."""
    dispatches = {
        (e["data"]["role"], e["data"]["recipient"])
        for e in incident["timeline"]
        if e["event"] == "dispatch"
    }
    [worker] = [who for role, who in dispatches if role == "worker"]
    assert any(role == "station" for role, _ in dispatches), dispatches
    actors = [(e["event"], e["actor"]) for e in incident["timeline"]]
    for step in ("accepted", "on_site", "handled"):
        assert (step, worker) in actors, actors
    for step in ("verified", "closed"):
        assert (step, "duty-officer") in actors, actors


def test_until_ctrl_c_the_api_answers_responders_close_incidents_and_it_stops_cleanly(
    tmp_path: Path,
) -> None:
    demo = Running(tmp_path / "demo")
    try:
        api = demo.wait_for_line(r"REST API     (http://\S+/api/v1)").group(1)
        token = demo.wait_for_line(r"admin token  (\S+)").group(1)
        demo.wait_for_line(r"registered   \d+ devices")
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 30
        online: set[str] = set()
        while time.monotonic() < deadline and {p.split("-")[0] for p in online} < PREFIXES:
            devices = httpx.get(f"{api}/devices", headers=headers, timeout=5).json()
            online = {d["id"] for d in devices if d["status"] == "online"}
            time.sleep(0.2)
        assert {p.split("-")[0] for p in online} >= PREFIXES, online
        # The script's first smoke alarm comes within seconds; the responders take about 20 s.
        incident = poll(lambda: closed_by_people(api, headers), "a fire closed by people", 60)
        assert_walked_round_the_loop(incident)
        # Ctrl-C: the terminal signals the whole foreground process group, the embedded
        # broker included unless it keeps a session of its own.
        os.killpg(demo.proc.pid, signal.SIGINT)
        assert demo.proc.wait(30) == 0
        demo.wait_for_line(r"firegrid demo stopped after", within=5)
        counts = demo.wait_for_line(r"^  incidents: (\d+) opened, (\d+) dispatched", within=5)
        assert int(counts.group(1)) >= 1 and int(counts.group(2)) >= 1
        closed = demo.wait_for_line(r"^  closed: (.*)$", within=5).group(1)
        assert f"{incident['outcome']}=" in closed, closed
        # The broker outlived its clients: the gateway was still connected when it settled,
        # and no client died reconnecting to a broker killed under it.
        assert any("mqtt ok (connected)" in line for line in demo.seen), demo.seen[-12:]
        assert "Traceback" not in demo.stderr_path.read_text()
    finally:
        demo.stop()
    assert_every_kind_stored(tmp_path / "demo")

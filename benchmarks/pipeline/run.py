"""One benchmark run: servers up, the phases in order, a report out.

Phases (each on the same Mosquitto and InfluxDB 1.x, started here):

1. ``firegrid run`` on an empty data dir: start-up time and RSS with no devices.
2. Registration over REST (people, stations, the grid map, devices by CSV import).
3. Warm-up: one message from every device (each device's first: online status, rule state).
   RSS afterwards is the memory with every device registered and its state held.
4. Throughput: N heartbeat messages, published as fast as the broker takes them; the window
   runs from the first publish until InfluxDB has taken every point (its shard write
   counters), CPU is the gateway process's user+system time over that window. Every point
   is then counted back with ``SELECT count``.
5. Profile (full mode): the same load again with py-spy attached (not in the measured run).
6. Alarm latency: background load at a fixed rate; smoke alarms at 1/s from detectors in
   distinct grids; latency from publish to the dispatch on ``grid/workers/{id}/alarms``.
7. Restart: SIGTERM, then start again on the data dir: time to ``/healthz`` ready and RSS with
   every device registered.
8. The peer: Node-RED on a fresh Mosquitto, the same warm-up and throughput messages, its
   own database in the same InfluxDB; CPU of the node process over the same window.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import psutil

from benchmarks.pipeline import nodered, pyspy_summary, workload
from benchmarks.pipeline.firegrid import Firegrid
from benchmarks.pipeline.procs import REPO, CpuMeter, Publisher, PySpy, wait_until
from benchmarks.pipeline.workload import MEASUREMENTS, Batch, Fleet, Traffic
from tests.servers.influxdb import InfluxServer, start_influxdb
from tests.servers.mosquitto import start_mosquitto
from tests.servers.ports import free_port

# The field every reading of a measurement carries, to count points by.
COUNT_FIELD = {
    "smoke": "smoke",
    "electrical": "residual_current_ma",
    "water": "battery_pct",
    "patrol": "result",
}
FIREGRID_DB = "firegrid_bench"
IDLE_S = 6.0
SETTLE_WAIT_S = 11.0  # > gateway.heap.SETTLE_S after the warm-up, + the 1 s above
NODE_RED_DB = "nodered_bench"


@dataclass(frozen=True)
class Plan:
    """How big a run is. ``FULL`` is the committed baseline; ``SMOKE`` is CI's."""

    mode: str
    devices: int
    throughput_messages: int
    profile_messages: int  # 0: no py-spy phase
    background_rates: tuple[float, ...]
    alarms: int
    settle_s: float = 3.0  # background running before the first alarm
    node_red: bool = True
    extra_sustainable: bool = True  # add a latency run at 70 % of the measured throughput
    gateway_nice: int = 0  # firegrid run's nice value (-10 ≈ the systemd unit's CPUWeight)


# 100 alarms: a nearest-rank p99 over 30 would be the slowest one (a p100).
FULL = Plan("full", 100_000, 300_000, 150_000, (10_000.0,), 100)
SMOKE = Plan("smoke", 1000, 500, 0, (200.0,), 3, settle_s=1.0, extra_sustainable=False)


@dataclass
class Report:
    meta: dict[str, Any] = field(default_factory=dict)
    startup: dict[str, Any] = field(default_factory=dict)
    registration: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    warmup: dict[str, Any] = field(default_factory=dict)
    throughput: dict[str, Any] = field(default_factory=dict)
    latency: list[dict[str, Any]] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)
    counts: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def all_counted(self) -> bool:
        return bool(self.counts) and all(c["counted"] == c["expected"] for c in self.counts)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"all_counted": self.all_counted}


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ---- InfluxDB ------------------------------------------------------------------------------


def points_taken(influx: InfluxServer, db: str) -> int:
    """Points InfluxDB has written to ``db`` so far (its shard counters: cheap to poll)."""
    rows = influx.query("SHOW STATS FOR 'shard'")
    return sum(int(r.get("writePointsOk", 0)) for r in rows if r.get("database") == db)


def count_back(
    influx: InfluxServer, db: str, ts0: int, batch: Batch, what: str, target: str
) -> dict[str, Any]:
    """``SELECT count`` of the batch's rounds per measurement, against what was sent."""
    lo, hi = (ts0 + batch.first) * 10**9, (ts0 + batch.last) * 10**9
    counted: dict[str, int] = {}
    for m in MEASUREMENTS:
        q = f'SELECT count("{COUNT_FIELD[m]}") FROM "{m}" WHERE time >= {lo} AND time <= {hi}'
        rows = influx.query(q, db=db)
        counted[m] = int(rows[0]["count"]) if rows else 0
    return {
        "target": target,
        "phase": what,
        "expected": len(batch),
        "counted": sum(counted.values()),
        "per_measurement": counted,
        "expected_per_measurement": batch.per_measurement,
    }


# ---- Measurements ---------------------------------------------------------------------------


def publish_and_measure(
    meter: CpuMeter,
    broker_port: int,
    batch_file: Path,
    batch: Batch,
    influx: InfluxServer,
    db: str,
    ts0: int,
    alive: Callable[[], None],
    timeout: float,
) -> dict[str, Any]:
    """Publish a file as fast as the broker takes it; the window ends when ``SELECT count``
    finds every point of the batch. The shard write counters (cheap) say when to start
    counting: they also count the gateway's other points (device status, incidents), so on
    their own they would end the window early."""
    before = points_taken(influx, db)
    publisher = Publisher(broker_port, batch_file)
    cpu0, machine0, split0 = meter.cpu_s(), machine_busy_s(), meter.split_s()
    publisher.go()

    def written() -> bool:
        alive()
        return points_taken(influx, db) - before >= len(batch)

    def counted() -> bool:
        alive()
        return count_back(influx, db, ts0, batch, "", "")["counted"] >= len(batch)

    wait_until(written, timeout, f"{len(batch)} points written to {db}", interval=0.1)
    wait_until(counted, timeout, f"{len(batch)} points counted in {db}", interval=0.2)
    end = time.time()
    cpu1, machine1, split1 = meter.cpu_s(), machine_busy_s(), meter.split_s()
    sent = publisher.result()
    window = end - sent["start"]
    n = sent["sent"]
    split = {k: round((split1[k] - split0[k]) / n * 1e6, 2) for k in split0}
    return {
        "messages": n,
        "window_s": round(window, 3),
        "publish_s": round(sent["last_sent"] - sent["start"], 3),
        "msgs_per_s": round(n / window, 1),
        "cpu_s": round(cpu1 - cpu0, 3),
        "cpu_us_per_msg": round((cpu1 - cpu0) / n * 1e6, 2),
        # The same µs per message by thread and mode (the main thread runs the event loop).
        "cpu_us_per_msg_split": split,
        "cpu_cores_busy": round((cpu1 - cpu0) / window, 2),
        # Every process on the machine (broker, InfluxDB, publisher, anything else running).
        "machine_cores_busy": round((machine1 - machine0) / window, 2),
    }


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent not idle, all cores."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


class Worker:
    """The grid workers' phones: every dispatch on ``grid/workers/+/alarms``, with its arrival
    time (``time.monotonic()``) per device."""

    def __init__(self, port: int) -> None:
        self.arrived: dict[str, float] = {}
        self._client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=f"bench-worker-{uuid.uuid4().hex[:6]}"
        )
        self._client.on_message = self._on_message
        subscribed = threading.Event()
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.connect("127.0.0.1", port)
        self._client.subscribe("grid/workers/+/alarms", qos=1)
        self._client.loop_start()
        if not subscribed.wait(10):
            raise TimeoutError("worker subscription not acknowledged")

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        at = time.monotonic()
        device = orjson.loads(msg.payload).get("device_id")
        if isinstance(device, str):
            self.arrived.setdefault(device, at)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


class AlarmSender:
    """A detector gateway's connection: one QoS 1 alarm at a time, noting when it left."""

    def __init__(self, port: int) -> None:
        self.sent: dict[str, float] = {}
        self._client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=f"bench-alarm-{uuid.uuid4().hex[:6]}"
        )
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def send(self, device_id: str, message: workload.Message) -> None:
        self.sent[device_id] = time.monotonic()
        self._client.publish(message.topic, message.payload, qos=1)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


# The gateway's own view of its event loop during a latency phase (gateway.heap).
STALL_HISTOGRAMS = ("firegrid_event_loop_lag_seconds", "firegrid_gc_pause_seconds")


def stall_summary(before: dict[float, float], after: dict[float, float]) -> dict[str, Any]:
    """Observations in a phase, how many over 10 and 50 ms, and the bound of the longest."""
    delta = {le: after.get(le, 0.0) - before.get(le, 0.0) for le in after}
    total = delta.get(float("inf"), 0.0)
    longest = min((le for le, n in delta.items() if n >= total), default=float("inf"))
    return {
        "count": int(total),
        "over_10ms": int(total - delta.get(0.01, 0.0)),
        "over_50ms": int(total - delta.get(0.05, 0.0)),
        "longest_under_s": None if longest == float("inf") else longest,
    }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: with 30 samples p99 is the slowest)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


# ---- The run --------------------------------------------------------------------------------


def prepare_source(
    commit: str | None, workdir: Path, pure_python: bool = False
) -> tuple[Path, dict[str, Any]]:
    """The firegrid tree to measure: the working tree as it is (as installed: compiled or
    not), or ``commit`` exported clean (``git archive``) so that edits in progress in the
    working tree do not leak in, its hot path compiled in place as ``pip install`` would
    (``setup.py``) unless ``pure_python``."""
    git = ["git", "-C", str(REPO)]
    if commit is None:
        changed = subprocess.run(
            [*git, "status", "--porcelain", "--", "gateway", "bridge", "device_profiles", "rules"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        head = _version([*git, "rev-parse", "--short", "HEAD"])
        return REPO, {"commit": head, "source": "working tree", "uncommitted": len(changed)}
    sha = subprocess.run(
        [*git, "rev-parse", "--short", commit], capture_output=True, text=True, check=True
    ).stdout.strip()
    target = workdir / f"firegrid-{sha}"
    target.mkdir(parents=True, exist_ok=True)
    archive = subprocess.Popen([*git, "archive", sha], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(target)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise RuntimeError(f"git archive {sha} failed")
    if (target / "setup.py").exists() and not pure_python:
        log(f"compiling {sha}'s hot path (setup.py build_ext --inplace)")
        build = [sys.executable, "setup.py", "-q", "build_ext", "--inplace"]
        subprocess.run(build, cwd=target, check=True, capture_output=True)
    return target, {"commit": sha, "source": f"git archive {commit}", "uncommitted": 0}


class Run:
    def __init__(
        self, plan: Plan, workdir: Path, commit: str | None = None, pure_python: bool = False
    ) -> None:
        self.plan = plan
        self.workdir = workdir
        self.commit = commit
        self.pure_python = pure_python
        self.report = Report()
        self._stack = contextlib.ExitStack()

    def file(self, name: str, batch: Batch) -> Path:
        return workload.write_messages(self.workdir / f"{name}.bin", batch.messages)

    def execute(self) -> Report:
        with self._stack:
            self._execute()
        return self.report

    def _execute(self) -> None:
        plan, r = self.plan, self.report
        r.meta = machine() | {
            "mode": plan.mode,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
            "plan": asdict(plan),
        }
        source, r.meta["firegrid"] = prepare_source(self.commit, self.workdir, self.pure_python)
        log("building the fleet and its messages")
        fleet = workload.build(plan.devices, source / "device_profiles")
        traffic = Traffic(fleet)
        alarm_devices = workload.alarm_detectors(fleet, plan.alarms * (1 + plan.extra_sustainable))
        warm = traffic.messages(plan.devices)
        through = traffic.messages(plan.throughput_messages)
        files = {
            "warm-up": self.file("warmup", warm),
            "throughput": self.file("throughput", through),
        }
        r.meta["fleet"] = {"devices": len(fleet.devices), "by_measurement": fleet.by_measurement()}
        if plan.node_red:
            installed = nodered.ensure_installed()
            r.meta["node_red_install_s"] = round(installed, 1)
            r.meta["versions"] |= {"node-red": nodered.versions()}

        log("starting mosquitto and influxd")
        influx = start_influxdb(self.workdir / "influxdb")
        self._stack.callback(influx.stop)
        broker = start_mosquitto(self.workdir / "mosquitto")
        self._stack.callback(broker.stop)

        gw = Firegrid(
            source,
            broker.url,
            influx.url,
            FIREGRID_DB,
            self.workdir / "firegrid-data",
            free_port(),
            self.workdir / "firegrid.log",
            nice=self.plan.gateway_nice,
        )
        self._stack.callback(gw.stop)
        r.meta["firegrid"] |= gw.imports()
        r.startup["empty_ready_s"] = round(gw.start(), 3)
        assert gw.meter is not None
        time.sleep(1.0)
        r.memory["rss_empty_mib"] = round(gw.meter.rss_bytes() / 2**20, 1)
        self._probe(gw, broker.port)

        log(f"registering {plan.devices} devices over REST")
        started = time.perf_counter()
        created = gw.register(fleet)
        r.registration = {"seconds": round(time.perf_counter() - started, 2), "created": created}

        log(f"warm-up: {len(warm)} messages, one per device")
        alive = self._alive(gw)
        timeout = 120 + len(warm) / 500
        r.warmup["firegrid"] = publish_and_measure(
            gw.meter,
            broker.port,
            files["warm-up"],
            warm,
            influx,
            FIREGRID_DB,
            traffic.ts0,
            alive,
            timeout,
        )
        r.counts.append(count_back(influx, FIREGRID_DB, traffic.ts0, warm, "warm-up", "firegrid"))
        time.sleep(1.0)
        r.memory["rss_burst_mib"] = round(gw.meter.rss_bytes() / 2**20, 1)
        # What the fleet holds once the gateway has settled after the burst: its heap steward
        # freezes the survivors and hands free memory back every SETTLE_S (gateway.heap).
        time.sleep(SETTLE_WAIT_S)
        rss = gw.meter.rss_bytes()
        r.memory |= {
            "devices": plan.devices,
            "rss_mib": round(rss / 2**20, 1),
            "rss_per_device_kib": round(rss / plan.devices / 1024, 2),
            "marginal_per_device_kib": round(
                (rss - r.memory["rss_empty_mib"] * 2**20) / plan.devices / 1024, 2
            ),
        }

        # The fixed cost of a big fleet: periodic jobs (rule ticks, state saves, sweeps) run
        # whether or not messages arrive; msg/s and CPU/msg below include it.
        idle0 = gw.meter.cpu_s()
        time.sleep(IDLE_S)
        idle_cores = (gw.meter.cpu_s() - idle0) / IDLE_S
        r.memory["idle_cpu_cores"] = round(idle_cores, 3)

        log(f"throughput: {len(through)} messages")
        timeout = 120 + len(through) / 500
        r.throughput["firegrid"] = publish_and_measure(
            gw.meter,
            broker.port,
            files["throughput"],
            through,
            influx,
            FIREGRID_DB,
            traffic.ts0,
            alive,
            timeout,
        )
        r.counts.append(
            count_back(influx, FIREGRID_DB, traffic.ts0, through, "throughput", "firegrid")
        )
        fg = r.throughput["firegrid"]
        # What a message costs on top of the periodic jobs a fleet this size runs anyway.
        fg["cpu_us_per_msg_over_idle"] = round(
            (fg["cpu_s"] - idle_cores * fg["window_s"]) / fg["messages"] * 1e6, 2
        )

        if plan.profile_messages:
            self._profile(gw, broker.port, traffic, influx, alive)

        rates = list(plan.background_rates)
        capacity = r.throughput["firegrid"]["msgs_per_s"]
        if plan.extra_sustainable and capacity * 0.7 < min(rates):
            rates.append(round(capacity * 0.7, -2))
        chosen = iter(alarm_devices)
        for rate in rates:
            devices = [next(chosen) for _ in range(plan.alarms)]
            r.latency.append(
                self._latency(gw, broker.port, fleet, traffic, rate, devices, influx, alive)
            )

        log("restart with every device registered")
        gw.stop()
        r.startup["devices"] = plan.devices
        r.startup["ready_s"] = round(gw.start(), 3)
        time.sleep(1.0)
        r.memory["rss_after_restart_mib"] = round(gw.meter.rss_bytes() / 2**20, 1)
        gw.stop()

        if plan.node_red:
            self._node_red(fleet, traffic, warm, through, files, influx)
            fg = r.throughput["firegrid"]["cpu_us_per_msg"]
            nr = r.throughput["node_red"]["cpu_us_per_msg"]
            r.throughput["node_red_over_firegrid_cpu"] = round(nr / fg, 2)
        r.targets = targets(r)
        r.meta["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]

    def _alive(self, gw: Firegrid) -> Callable[[], None]:
        def check() -> None:
            if gw.proc is None or gw.proc.poll() is not None:
                raise RuntimeError(f"firegrid run died:\n{gw.log.read_text()[-2000:]}")

        return check

    def _probe(self, gw: Firegrid, port: int) -> None:
        """One message from an unknown device until the gateway counts it: subscribed."""
        sender = AlarmSender(port)
        try:
            probe = workload.Message("devices/bench-probe/up", b'{"smoke": false}')

            def counted() -> bool:
                sender.send("probe", probe)
                time.sleep(0.2)
                return gw.received() > 0

            wait_until(counted, 30, "the gateway receiving a probe")
        finally:
            sender.close()

    def _profile(
        self,
        gw: Firegrid,
        port: int,
        traffic: Traffic,
        influx: InfluxServer,
        alive: Callable[[], None],
    ) -> None:
        log(f"profile: {self.plan.profile_messages} messages under py-spy")
        batch = traffic.messages(self.plan.profile_messages)
        path = self.file("profile", batch)
        out = self.workdir / "firegrid-throughput.pyspy.txt"
        assert gw.meter is not None
        spy = PySpy(gw.pid, out)
        try:
            run = publish_and_measure(
                gw.meter, port, path, batch, influx, FIREGRID_DB, traffic.ts0, alive, 600
            )
        finally:
            spy.stop()
        self.report.counts.append(
            count_back(influx, FIREGRID_DB, traffic.ts0, batch, "profile", "firegrid")
        )
        self.report.profile = pyspy_summary.summarise(out) | {
            "under_profiler": run,
            "raw": str(out),
        }

    def _latency(
        self,
        gw: Firegrid,
        port: int,
        fleet: Fleet,
        traffic: Traffic,
        rate: float,
        devices: list[workload.SimDevice],
        influx: InfluxServer,
        alive: Callable[[], None],
    ) -> dict[str, Any]:
        plan = self.plan
        seconds = plan.settle_s + plan.alarms + 2.0
        exclude = frozenset(d.id for d in devices)
        batch = traffic.messages(int(rate * seconds), exclude=exclude)
        path = self.file(f"background-{int(rate)}", batch)
        log(f"alarm latency: {plan.alarms} alarms over {rate:.0f} msg/s background")
        worker = Worker(port)
        sender = AlarmSender(port)
        publisher = Publisher(port, path, rate=rate)
        stalls0 = {name: gw.buckets(name) for name in STALL_HISTOGRAMS}
        try:
            # Progress from InfluxDB's write counters: the gateway's /metrics can take seconds
            # to answer while it is saturated, and polling it would add to its load.
            taken0 = points_taken(influx, FIREGRID_DB)
            publisher.go()
            time.sleep(plan.settle_s)
            at_first = points_taken(influx, FIREGRID_DB), time.monotonic()
            begin = time.monotonic()
            for i, device in enumerate(devices):
                time.sleep(max(0.0, begin + i - time.monotonic()))
                sender.send(device.id, workload.alarm_message(device, fleet.profiles, time.time()))
            at_last = points_taken(influx, FIREGRID_DB), time.monotonic()
            wait_until(
                lambda: (alive(), len(worker.arrived.keys() & exclude) == len(devices))[1],
                120,
                "every alarm dispatched to its grid worker",
                interval=0.05,
            )
            sent = publisher.result()
            wait_until(
                lambda: (alive(), points_taken(influx, FIREGRID_DB) - taken0 >= len(batch))[1],
                120 + len(batch) / 500,
                "the gateway working off the background load",
                interval=0.2,
            )
        finally:
            worker.close()
            sender.close()
        stalls = {name: stall_summary(stalls0[name], gw.buckets(name)) for name in STALL_HISTOGRAMS}
        latencies = [(worker.arrived[d.id] - sender.sent[d.id]) * 1000 for d in devices]
        # Points written per second while the alarms went out (a point per message).
        gateway_rate = (at_last[0] - at_first[0]) / max(at_last[1] - at_first[1], 1e-9)
        phase = f"background {rate:.0f}/s"

        def counted() -> dict[str, Any] | None:
            found = count_back(influx, FIREGRID_DB, traffic.ts0, batch, phase, "firegrid")
            return found if found["counted"] >= len(batch) else None

        with contextlib.suppress(TimeoutError):
            wait_until(counted, 60, "background points in InfluxDB", interval=0.5)
        self.report.counts.append(
            count_back(influx, FIREGRID_DB, traffic.ts0, batch, phase, "firegrid")
        )
        return {
            "target_rate": rate,
            "published_rate": round(sent["rate"], 1),
            "gateway_rate": round(gateway_rate, 1),
            "alarms": len(devices),
            "dispatched": len(latencies),
            "p50_ms": round(percentile(latencies, 50), 1),
            "p99_ms": round(percentile(latencies, 99), 1),
            "max_ms": round(max(latencies), 1),
            "min_ms": round(min(latencies), 1),
            "mean_ms": round(statistics.fmean(latencies), 1),
            "stalls": stalls,
        }

    def _node_red(
        self,
        fleet: Fleet,
        traffic: Traffic,
        warm: Batch,
        through: Batch,
        files: dict[str, Path],
        influx: InfluxServer,
    ) -> None:
        r = self.report
        log("the peer: Node-RED on a fresh mosquitto")
        broker = start_mosquitto(self.workdir / "mosquitto-node-red")
        self._stack.callback(broker.stop)
        influx.create_database(NODE_RED_DB)
        peer = nodered.NodeRed(
            self.workdir / "node-red", fleet, broker.port, influx.url, NODE_RED_DB, free_port()
        )
        self._stack.callback(peer.stop)
        started = time.perf_counter()
        peer.start()
        self._probe_node_red(peer, broker.port)
        r.startup["node_red_ready_s"] = round(time.perf_counter() - started, 3)
        assert peer.meter is not None
        phases = (("warm-up", warm, r.warmup), ("throughput", through, r.throughput))
        for name, batch, into in phases:
            log(f"Node-RED {name}: {len(batch)} messages")
            into["node_red"] = publish_and_measure(
                peer.meter,
                broker.port,
                files[name],
                batch,
                influx,
                NODE_RED_DB,
                traffic.ts0,
                peer.check_alive,
                120 + len(batch) / 200,
            )
            r.counts.append(count_back(influx, NODE_RED_DB, traffic.ts0, batch, name, "node-red"))
        r.memory["node_red_rss_mib"] = round(peer.meter.rss_bytes() / 2**20, 1)
        r.meta["node_red_errors"] = peer.errors()
        peer.stop()

    def _probe_node_red(self, peer: nodered.NodeRed, port: int) -> None:
        acked = threading.Event()
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-probe-nr")
        client.on_message = lambda *_: acked.set()
        client.connect("127.0.0.1", port)
        client.subscribe("bench/probe/ack", qos=1)
        client.loop_start()
        try:

            def answered() -> bool:
                peer.check_alive()
                client.publish("bench/probe", b"ping", qos=1)
                return acked.wait(0.5)

            wait_until(answered, 120, "Node-RED answering the probe")
            time.sleep(0.5)  # the four device topics subscribe on the same connection
        finally:
            client.loop_stop()
            client.disconnect()


# ---- Targets and the machine ----------------------------------------------------------------


def targets(r: Report) -> list[dict[str, Any]]:
    fg = r.throughput["firegrid"]
    rows: list[dict[str, Any]] = [
        _target(
            "gateway CPU per message",
            "≤ 20 µs",
            f"{fg['cpu_us_per_msg']} µs",
            fg["cpu_us_per_msg"] <= 20,
        ),
    ]
    ratio = r.throughput.get("node_red_over_firegrid_cpu")
    if ratio is not None:
        rows.append(
            _target("CPU vs Node-RED (Node-RED ÷ firegrid)", "≥ 3×", f"{ratio}×", ratio >= 3)
        )
    first = r.latency[0]
    rows.append(
        _target(
            f"alarm p99 at {first['target_rate']:.0f} msg/s background",
            "< 50 ms",
            f"{first['p99_ms']} ms (gateway took {first['gateway_rate']:.0f} msg/s)",
            first["p99_ms"] < 50 and first["gateway_rate"] >= 0.95 * first["target_rate"],
        )
    )
    m = r.memory
    rows.append(
        _target(
            f"RSS per registered device ({m['devices']} devices)",
            "≤ 2 KiB",
            f"{m['rss_per_device_kib']} KiB total, "
            f"{m['marginal_per_device_kib']} KiB over the empty gateway",
            m["rss_per_device_kib"] <= 2,
        )
    )
    s = r.startup
    rows.append(
        _target(
            f"ready with {s['devices']} devices", "< 5 s", f"{s['ready_s']} s", s["ready_s"] < 5
        )
    )
    return rows


def _target(name: str, target: str, measured: str, ok: bool) -> dict[str, Any]:
    return {"name": name, "target": target, "measured": measured, "pass": bool(ok)}


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"


def cpu_probe_ms(rounds: int = 3) -> float:
    """CPU milliseconds of one fixed pure-Python loop, best of ``rounds``: how fast this
    machine runs the interpreter, so runs on different machines can be told apart (two
    machines reporting the same model name here differed threefold)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        total = 0
        for i in range(2_000_000):
            total += i
        best = min(best, time.process_time() - started)
    return round(best * 1000, 1)


def machine() -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    from tests.servers.influxdb import INFLUXD
    from tests.servers.mosquitto import MOSQUITTO

    return {
        "machine": {
            "cpu": cpu,
            "cores": os.cpu_count(),
            "ram_gib": round(mem_kib / 2**20, 1),
            "kernel": platform.release(),
            "cpu_probe_ms": cpu_probe_ms(),
        },
        "versions": {
            "python": platform.python_version(),
            "node": _version(["node", "--version"]),
            "mosquitto": _version([MOSQUITTO, "-h"]),
            "influxd": _version([INFLUXD, "version"]),
        },
    }


@contextlib.contextmanager
def workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    path = Path(tempfile.mkdtemp(prefix="firegrid-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)

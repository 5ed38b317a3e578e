"""The ingest hot path in one process, stage by stage: CPU µs per message, no broker.

What is measured
----------------
A real :class:`gateway.app.Gateway` (the object ``firegrid run`` builds: registry, pipeline,
rules runtime, incident service, InfluxDB sink, REST API) starts on a temp data dir holding N
registered devices of the reference fleet mix (``gateway.sim``). Its InfluxDB sink runs the
real batching writer; only the HTTP request is replaced by a stub that counts bytes, so the
batch join and encode are measured but no server is. Messages are built from the shipped
profiles' ``examples:`` (every device kind; clean telemetry, i.e. examples that decode without
a problem and raise no rule outcome in a scratch engine), re-keyed to each registered device.

Every stage runs as its own pass over the same messages, after one warm-up pass through
``Gateway.on_message`` (the first message of a device fills per-device caches):

* ``route+lookup`` — topic router, registry lookup, profile check (``Pipeline.resolve``);
  for a patrol scan, whose tag is named in the payload, the one decode of the payload too
* ``decode``       — the profile codec (JSON or binary frame → checked fields), for the rest
* ``pipeline``     — ``Pipeline.handle`` whole: the two above plus rate limit, heartbeat,
  tracker, metrics, the Reading and the sink's ``write`` (encode + buffer)
* ``rules``        — ``RulesRuntime.on_reading`` for the readings of that pass
* ``encode``       — ``LineProtocol.line`` alone (a fresh encoder, warmed once)
* ``sink.write``   — the InfluxDB sink's ``write`` (encode + bounded buffer)
* ``end-to-end``   — ``Gateway.on_message`` for every message, then the writer drains the
  buffer in batches to the stub: the figure the ≤ 20 µs target is about (without MQTT)

``--shuffle`` sends the messages in random device order, as a real fleet's arrive. Round-robin
order visits each device's objects in the order they were allocated, which the CPU's caches
reward: with 100k devices the end-to-end pass cost 23.8 µs shuffled against 16.2 in order (see
RESULTS.md, "Where the time goes"). The stage figures are clearest in order; the shuffled
end-to-end figure, plus the MQTT client layer's, is the one to set beside the pipeline
benchmark's CPU per message.

``--against-pure`` then runs the same passes on a copy of this tree without its compiled
extensions (``gateway.compiled``; mypyc at install), in a process of its own, and prints each
stage pure against compiled with the ratio.

``--mqtt`` adds the client layer on its own: a real Mosquitto (``tests/servers``), a raw-socket
publisher process streaming N QoS 1 messages, and the gateway's ingest client
(``gateway.ingest.mqtt.MqttIngest``, persistent session, PUBACK after the handler) with a
handler that does nothing; CPU µs per message from the first to the last message received.

    .venv/bin/python benchmarks/hotpath.py --devices 10000 --messages 200000 [--mqtt]
    .venv/bin/python benchmarks/hotpath.py --devices 100000 --shuffle --against-pure
    .venv/bin/python benchmarks/hotpath.py --profile out.html   # pyinstrument, end-to-end pass
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from gateway import compiled  # noqa: E402
from gateway.app import Gateway  # noqa: E402
from gateway.codecs import build_codec  # noqa: E402
from gateway.config import Settings, parse_mqtt_url  # noqa: E402
from gateway.ingest.topics import TopicRouter  # noqa: E402
from gateway.model import Device, Reading  # noqa: E402
from gateway.profiles import DeviceProfile, JsonMapCodec, ProfileExample, load_profiles  # noqa: E402
from gateway.registry.devices import DeviceDraft  # noqa: E402
from gateway.registry.inputs import GridCollection  # noqa: E402
from gateway.registry.store import Registry  # noqa: E402
from gateway.rules.engine import RulesEngine  # noqa: E402
from gateway.rules.loader import load_rule_sets  # noqa: E402
from gateway.sim.district import DistrictPlan, build_district  # noqa: E402
from gateway.sim.fleet import build_fleet  # noqa: E402
from gateway.sinks.lineprotocol import LineProtocol, field_roles  # noqa: E402

PROFILES_DIR = ROOT / "device_profiles"
RULES_DIR = ROOT / "rules"
T0 = 1767225600.0
TICK_S = 0.0001  # receive-time step between messages: 10k msg/s of simulated time
READ_BUFFER = 256  # messages handed over between event-loop turns, like one socket read
SHUFFLE_SEED = 2026  # --shuffle: the same random order every run

Message = tuple[str, bytes]


# -- the fleet and its messages ------------------------------------------------------------


def clean_examples(profiles: dict[str, DeviceProfile]) -> dict[str, list[ProfileExample]]:
    """Per profile, the examples that decode without a problem."""
    return {
        name: [e for e in p.examples if e.reading is not None and not e.problems]
        for name, p in profiles.items()
    }


def rekeyed(example: ProfileExample, device: Device, router: TopicRouter) -> Message | None:
    """The example as ``device`` would send it: its id or external id in topic or payload, and
    a patrol scan made where its tag is, by a worker of its own (a scan elsewhere, or one
    worker at distant tags within milliseconds, is an alarm, not telemetry)."""
    match = router.match(example.topic)
    assert match is not None, example.topic
    route, _ = match
    levels = example.topic.split("/")
    if route.key_kind == "payload":
        assert example.payload is not None and route.payload_profile is not None
        body = dict(example.payload, **{_device_key(route.payload_profile): _key(device)})
        if "lat" in body:
            body["lat"], body["lon"] = device.location.lat, device.location.lon
        if "worker_id" in body:
            body["worker_id"] = f"w-{device.id}"
        return "/".join(levels), orjson.dumps(body)
    key = device.id if route.key_kind == "device_id" else device.external_id
    if key is None:
        return None
    levels[route.key_index] = key
    return "/".join(levels), example.raw()


def shuffled(messages: Sequence[Message]) -> list[Message]:
    """The messages in random order, each made anew in that order: as a socket read's are,
    they lie in memory in the order they are read, so only the devices' state is visited out
    of order (shuffling the list alone would add cache misses on the messages themselves)."""
    order = list(messages)
    random.Random(SHUFFLE_SEED).shuffle(order)
    return [(topic.encode().decode(), bytes(bytearray(payload))) for topic, payload in order]


def _key(device: Device) -> str:
    return device.external_id or device.id


def _device_key(profile: str) -> str:
    codec = PROFILES[profile].codec
    assert isinstance(codec, JsonMapCodec) and codec.device_key
    return codec.device_key


def quiet(message: Message, device: Device, engine: RulesEngine) -> bool:
    """Decodes cleanly and raises no rule outcome (judged by a scratch engine)."""
    profile = PROFILES[device.profile]
    decoded = build_codec(profile).decode(message[1], T0)
    reading = Reading(device.id, profile.name, profile.measurement, decoded.ts, decoded.fields)
    return not decoded.problems and not engine.on_reading(reading, device, T0)


def build_messages(devices: Sequence[Device], count: int) -> list[Message]:
    """``count`` messages, round-robin over devices, each device cycling its quiet examples."""
    router = TopicRouter(PROFILES)
    examples = clean_examples(PROFILES)
    engine = RulesEngine(load_rule_sets(RULES_DIR, PROFILES), PROFILES)
    per_device: list[list[Message]] = []
    for device in devices:
        options = [rekeyed(e, device, router) for e in examples[device.profile]]
        usable = [m for m in options if m is not None and quiet(m, device, engine)]
        if usable:
            per_device.append(usable)
    messages = []
    for i in range(count):
        device_round, device_index = divmod(i, len(per_device))
        own = per_device[device_index]
        messages.append(own[device_round % len(own)])
    return messages


PROFILES = load_profiles(PROFILES_DIR)


async def install_fleet(data_dir: Path, devices: int) -> list[Device]:
    """A registry with the simulated district and ``devices`` devices (reference mix)."""
    grids = max(4, devices // 400)
    plan = DistrictPlan(
        streets=1, communities_per_street=max(1, grids // 16), grids_per_community=16
    )
    district = build_district(plan)
    registry = await Registry.open(data_dir / "registry.sqlite", PROFILES)
    try:
        records = GridCollection.model_validate(district.feature_collection()).to_records()
        await registry.import_grids(records)
        fleet = build_fleet(district, devices, silent_share=0.0)
        drafts = [
            DeviceDraft(d.id, d.profile, d.name, d.location, d.external_id, d.grid) for d in fleet
        ]
        for start in range(0, len(drafts), 5000):
            await registry.add_devices(drafts[start : start + 5000])
        return registry.devices()
    finally:
        await registry.close()


# -- the gateway with its InfluxDB request stubbed --------------------------------------------


class CountingTransport:
    """Stands where the HTTP request to InfluxDB stands: counts what would have been sent."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0

    async def open(self) -> None:
        return None

    async def send(self, body: bytes) -> None:
        self.requests += 1
        self.bytes += len(body)

    async def close(self) -> None:
        return None


def settings_for(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        influx_url="http://127.0.0.1:9",  # never contacted: the transport is replaced
        influx_api="v1",
        api_port=0,
        admin_token="bench",
        profiles_dir=PROFILES_DIR,
        rules_dir=RULES_DIR,
    )


async def stub_influx(gateway: Gateway) -> CountingTransport:
    transport = CountingTransport()
    sink: Any = gateway.sink
    assert hasattr(sink, "_transport"), "the InfluxDB sink changed: update the stub"
    await sink._transport.close()
    sink._transport = transport
    return transport


# -- passes ---------------------------------------------------------------------------------


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now

    def step(self) -> float:
        self.now += TICK_S
        return self.now


def cpu_us(n: int, run: Callable[[], object]) -> float:
    started = time.process_time()
    run()
    return (time.process_time() - started) / n * 1e6


async def end_to_end(gateway: Gateway, clock: Clock, messages: Sequence[Message]) -> int:
    """What the ingest client does with a stream: hand messages over, let the loop run.
    Returns how many messages raised or cleared an incident (should be none)."""
    on_message = gateway.on_message
    incidents = 0
    for start in range(0, len(messages), READ_BUFFER):
        for topic, payload in messages[start : start + READ_BUFFER]:
            pending = on_message(topic, payload, clock.step())
            if pending is not None:
                incidents += 1
                await pending
        await asyncio.sleep(0)
    await gateway.sink.flush()  # type: ignore[attr-defined]
    return incidents


async def measure(gateway: Gateway, messages: Sequence[Message], repeats: int) -> dict[str, float]:
    clock: Clock = gateway.clock  # type: ignore[assignment]
    pipeline, n = gateway.pipeline, len(messages)
    results: dict[str, float] = {}

    def timed(name: str, run: Callable[[], object]) -> None:
        """The best of ``repeats`` passes: the machine is shared, noise only adds."""
        for _ in range(repeats):
            gc.collect()
            us = cpu_us(n, run)
            results[name] = min(us, results.get(name, us))

    await end_to_end(gateway, clock, messages)  # warm-up
    sources = [pipeline.resolve(t, p, clock.step()) for t, p in messages]
    assert all(source is not None for source in sources)
    devices = [source.device for source in sources if source is not None]
    # Payload-keyed messages (patrol scans) were decoded by resolve already.
    to_decode = [
        (source.codec, payload)
        for source, (_, payload) in zip(sources, messages, strict=True)
        if source is not None and source.decoded is None
    ]
    timed("route+lookup", lambda: [pipeline.resolve(t, p, clock.step()) for t, p in messages])
    timed("decode", lambda: [codec.decode(p, clock.now) for codec, p in to_decode])
    readings: list[Reading | None] = []

    def handle_all() -> None:
        readings[:] = [pipeline.handle(t, p, clock.step()) for t, p in messages]

    timed("pipeline", handle_all)
    kept = [(r, d) for r, d in zip(readings, devices, strict=True) if r is not None]
    assert len(kept) == n, f"{n - len(kept)} messages not accepted"
    timed("rules", lambda: [gateway.rules.on_reading(r, d, clock.now) for r, d in kept])
    lines = LineProtocol(*field_roles(PROFILES.values()))
    for r, d in kept:
        lines.line(r, d)
    timed("encode", lambda: [lines.line(r, d) for r, d in kept])
    timed("sink.write", lambda: [gateway.sink.write(r, d) for r, d in kept])
    await gateway.sink.flush()  # type: ignore[attr-defined]
    incidents = 0
    for _ in range(repeats):
        gc.collect()
        started = time.process_time()
        incidents += await end_to_end(gateway, clock, messages)
        us = (time.process_time() - started) / n * 1e6
        results["end-to-end"] = min(us, results.get("end-to-end", us))
    print(f"messages that raised or cleared an incident: {incidents} (should be 0)")
    return results


async def run_inprocess(args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="firegrid-hotpath-") as tmp:
        data_dir = Path(tmp)
        started = time.perf_counter()
        devices = await install_fleet(data_dir, args.devices)
        print(f"registered {len(devices)} devices in {time.perf_counter() - started:.1f} s")
        messages = build_messages(devices, args.messages)
        if args.shuffle:
            messages = shuffled(messages)
        kinds = sorted({d.profile for d in devices})
        print(f"{len(messages)} messages over {len(kinds)} device kinds: {', '.join(kinds)}")
        clock = Clock()
        started = time.perf_counter()
        async with Gateway(settings_for(data_dir), clock=clock) as gateway:
            ready = time.perf_counter() - started
            transport = await stub_influx(gateway)
            if args.profile:
                await profile_end_to_end(gateway, clock, messages, args.profile)
                return {}
            if args.perf:
                await perf_end_to_end(gateway, clock, messages, args.perf)
                return {}
            results = await measure(gateway, messages, args.repeats)
        report(results, ready, transport, len(devices), len(messages))
        return results


async def profile_end_to_end(
    gateway: Gateway, clock: Clock, messages: Sequence[Message], out: Path
) -> None:
    from pyinstrument import Profiler

    await end_to_end(gateway, clock, messages)  # warm-up
    profiler = Profiler(interval=0.0002, async_mode="disabled")
    with profiler:
        await end_to_end(gateway, clock, messages)
    html = profiler.output_html()
    await asyncio.to_thread(out.write_text, html)
    print(profiler.output_text(unicode=True, color=False, show_all=False))


async def perf_end_to_end(
    gateway: Gateway, clock: Clock, messages: Sequence[Message], out: Path
) -> None:
    """Linux ``perf`` over three end-to-end passes, self time by symbol. Unlike py-spy it sees
    inside the compiled modules (mypyc's C functions are ``CPyDef_<module>___<Class>___<name>``);
    ``perf report -i FILE`` reads the file again, ``--call-graph dwarf`` is for the callers."""
    await end_to_end(gateway, clock, messages)  # warm-up
    record = ["record", "-q", "-F", "4999", "-o", str(out), "-p", str(os.getpid())]
    recorder = await asyncio.create_subprocess_exec("perf", *record)
    await asyncio.sleep(0.5)  # perf attaches
    for _ in range(3):
        await end_to_end(gateway, clock, messages)
    recorder.send_signal(signal.SIGINT)
    await recorder.wait()
    top = ["perf", "report", "-i", str(out), "--stdio", "--no-children", "--sort", "symbol"]
    done = await asyncio.to_thread(subprocess.run, top, capture_output=True, text=True, check=True)
    rows = [line for line in done.stdout.splitlines() if line and not line.startswith("#")]
    print("\n".join(rows[:60]))


def report(
    results: dict[str, float], ready: float, transport: CountingTransport, devices: int, n: int
) -> None:
    print(f"gateway ready in {ready:.2f} s with {devices} devices")
    print(f"InfluxDB stub: {transport.requests} requests, {transport.bytes / 1e6:.1f} MB")
    width = max(len(k) for k in results)
    for stage, us in results.items():
        print(f"  {stage:<{width}}  {us:6.2f} µs/msg")
    rest = results["pipeline"] - results["route+lookup"] - results["decode"]
    rest -= results["sink.write"]
    print(f"  {'bookkeeping':<{width}}  {rest:6.2f} µs/msg  (pipeline - route - decode - write)")
    print(json.dumps({"devices": devices, "messages": n, **results}))


# -- the MQTT client layer against a real Mosquitto ------------------------------------------


async def run_mqtt(args: argparse.Namespace) -> None:
    from gateway.ingest.mqtt import MqttIngest
    from gateway.metrics import Metrics
    from tests.servers.mosquitto import start_mosquitto

    with tempfile.TemporaryDirectory(prefix="firegrid-hotpath-mqtt-") as tmp:
        broker = start_mosquitto(Path(tmp))
        try:
            counter = _Counter(args.mqtt_messages)
            url = parse_mqtt_url(broker.url)
            client = MqttIngest(url, "hotpath-bench", ["devices/+/up"], counter.handle, Metrics())
            async with client:
                await asyncio.wait_for(client.wait_connected(), 10)
                await asyncio.sleep(0.5)  # the SUBACK
                publisher = _publish(broker.port, args.mqtt_messages)
                try:
                    await asyncio.wait_for(counter.done.wait(), 120)
                finally:
                    publisher.wait(30)
                await asyncio.sleep(0.5)  # the last PUBACKs
            wall, cpu = counter.wall(), counter.cpu()
            n = counter.received - 1
            print(
                f"MQTT client layer (QoS 1, PUBACK after the handler): {n / wall:,.0f} msg/s, "
                f"{cpu / n * 1e6:.2f} CPU µs/msg over {counter.received} messages"
            )
        finally:
            broker.stop()


class _Counter:
    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.received = 0
        self.done = asyncio.Event()
        self._start = self._end = (0.0, 0.0)

    def handle(self, topic: str, payload: bytes, received_at: float) -> None:
        if not self.received:
            self._start = (time.perf_counter(), time.process_time())
        self.received += 1
        if self.received == self.expected:
            self._end = (time.perf_counter(), time.process_time())
            self.done.set()

    def wall(self) -> float:
        return self._end[0] - self._start[0]

    def cpu(self) -> float:
        return self._end[1] - self._start[1]


def _publish(port: int, messages: int) -> subprocess.Popen[bytes]:
    config = {"port": port, "qos": 1, "messages": messages, "timeout_s": 120}
    script = Path(__file__).resolve().parent / "mqtt_clients.py"
    return subprocess.Popen(
        [sys.executable, str(script), "_publisher", json.dumps(config)], stdout=subprocess.DEVNULL
    )


def parse_args(argv: Iterable[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3, help="passes per stage; best kept")
    parser.add_argument(
        "--shuffle", action="store_true", help="messages in random device order (a real fleet's)"
    )
    parser.add_argument("--mqtt", action="store_true", help="also measure the MQTT client layer")
    parser.add_argument("--mqtt-only", action="store_true", help="only the MQTT client layer")
    parser.add_argument("--mqtt-messages", type=int, default=200_000)
    parser.add_argument("--profile", type=Path, help="pyinstrument the end-to-end pass into HTML")
    parser.add_argument(
        "--perf", type=Path, help="Linux perf over the end-to-end passes into this perf.data"
    )
    parser.add_argument(
        "--against-pure",
        action="store_true",
        help="then the same passes on a copy of this tree without compiled modules: the ratio",
    )
    return parser.parse_args(list(argv))


# -- the same passes on the pure-Python build, for the ratio ------------------------------------


def run_pure(args: argparse.Namespace) -> dict[str, float]:
    """This tree copied without its compiled extensions, the in-process passes run there in a
    process of their own; returns its results (the JSON line ``report`` prints last)."""
    with tempfile.TemporaryDirectory(prefix="firegrid-hotpath-pure-") as tmp:
        copy = Path(tmp)
        skip = shutil.ignore_patterns("*.so", "__pycache__", "_compiled_sources.json")
        for name in ("gateway", "bridge", "device_profiles", "rules"):
            shutil.copytree(ROOT / name, copy / name, ignore=skip)
        (copy / "benchmarks").mkdir()
        shutil.copy(Path(__file__), copy / "benchmarks" / "hotpath.py")
        cmd = [sys.executable, str(copy / "benchmarks" / "hotpath.py")]
        cmd += ["--devices", str(args.devices), "--messages", str(args.messages)]
        cmd += ["--repeats", str(args.repeats), *(["--shuffle"] if args.shuffle else [])]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=copy).stdout
    lines = out.splitlines()
    assert "hot path: pure Python" in out, "the copy imported compiled modules"
    return {k: v for k, v in json.loads(lines[-1]).items() if isinstance(v, float)}


def side_by_side(compiled_run: dict[str, float], pure_run: dict[str, float]) -> None:
    print("pure Python against compiled (mypyc), the same passes:")
    width = max(len(k) for k in pure_run)
    for stage, pure_us in pure_run.items():
        fast = compiled_run[stage]
        print(f"  {stage:<{width}}  {pure_us:6.2f} → {fast:6.2f} µs/msg  ×{pure_us / fast:.2f}")


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("PYTHONHASHSEED", "0")
    print(compiled.describe())
    if not args.mqtt_only:
        results = asyncio.run(run_inprocess(args))
        if args.against_pure:
            side_by_side(results, run_pure(args))
    if args.mqtt or args.mqtt_only:
        asyncio.run(run_mqtt(args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

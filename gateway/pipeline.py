"""The ingest pipeline: raw MQTT message → device → codec → Reading → sinks.

One direction only. The Reading is made here, once; downstream stages (sinks, and the rules
engine) consume it and never see the raw payload. ``handle`` is synchronous and cheap so the
MQTT client can acknowledge a message as soon as it returns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Final, Protocol

from gateway.codecs import Codec, Decoded, DecodeError, build_codec
from gateway.ingest.topics import TopicRouter
from gateway.metrics import Metrics
from gateway.model import Device, FieldValue, Reading
from gateway.profiles import DeviceProfile
from gateway.ratelimit import DeviceRateLimit
from gateway.ratelog import RateLimitedLogger
from gateway.sinks.base import PointWriter, Sink
from gateway.tally import Tally
from gateway.tracker import DeviceTracker
from gateway.unregistered import UnregisteredLog

log = logging.getLogger(__name__)

STATUS_MEASUREMENT = "device_status"


class DeviceDirectory(Protocol):
    """The registry's in-memory index, as the hot path sees it."""

    def index(self) -> tuple[dict[str, Device], dict[str, Device]]:
        """The live dicts by device id and by external id (read here, never changed)."""
        ...


# Source and Accepted are plain classes, not NamedTuples: compiled, a NamedTuple is still
# built by its interpreted __new__, a Python call on every message.


class Source:
    """Who sent a message and how to read it. ``decoded`` is already there when the device was
    named inside the payload (a patrol scan): the payload is parsed once, not twice."""

    __slots__ = ("codec", "decoded", "device")

    def __init__(self, device: Device, codec: Codec, decoded: Decoded | None) -> None:
        self.device: Final = device
        self.codec: Final = codec
        self.decoded: Final = decoded


class Accepted:
    """A message the pipeline kept: its Reading and the registered device it came from."""

    __slots__ = ("device", "reading")

    def __init__(self, reading: Reading, device: Device) -> None:
        self.reading: Final = reading
        self.device: Final = device


class Pipeline:
    def __init__(
        self,
        profiles: Mapping[str, DeviceProfile],
        directory: DeviceDirectory,
        sinks: Sequence[Sink],
        tracker: DeviceTracker,
        unregistered: UnregisteredLog,
        metrics: Metrics,
        max_payload_bytes: int = 64 * 1024,
        rate_limit: DeviceRateLimit | None = None,
    ) -> None:
        self._profiles = profiles
        self._codecs: dict[str, Codec] = {n: build_codec(p) for n, p in profiles.items()}
        self.router = TopicRouter(profiles)
        self._by_id, self._by_external_id = directory.index()
        self._writers: list[PointWriter] = [sink.writer for sink in sinks]
        self._tracker = tracker
        self._unregistered = unregistered
        self._metrics = metrics
        self._max_payload = max_payload_bytes
        self._rate_limit = rate_limit or DeviceRateLimit()
        self._log = RateLimitedLogger(log)
        self._m_messages = metrics.messages.tally
        self._m_readings: dict[str, Tally] = {}  # per measurement: .labels() costs ~1 µs

    def _reject(self, reason: str, topic: str, detail: str) -> None:
        self._metrics.rejected.labels(reason).inc()
        self._log.warning(reason, "refused message on %s: %s: %s", topic, reason, detail)

    def resolve(self, topic: str, payload: bytes, at: float) -> Source | None:
        """The registered device a message comes from and its codec; None (counted) if none."""
        match = self.router.match(topic)
        if match is None:
            self._reject("unknown_topic", topic, "no device profile declares this topic")
            return None
        route, key = match
        decoded = None
        if route.key_kind == "payload":
            assert route.payload_profile is not None
            try:
                decoded = self._codecs[route.payload_profile].decode(payload, at)
            except DecodeError as exc:
                self._reject(exc.problem.reason, topic, exc.problem.detail)
                return None
            key = decoded.device_key or ""
            device = self._by_id.get(key) or self._by_external_id.get(key)
        elif route.key_kind == "device_id":
            device = self._by_id.get(key)
        else:
            device = self._by_external_id.get(key)
        if device is None:
            self._unregistered.record(topic, key, payload, at)
            self._reject("unknown_device", topic, f"no registered device {key!r}")
            return None
        if not self.router.accepts(device.profile, route.template):
            detail = f"device {device.id} ({device.profile}) does not report on {route.template}"
            self._reject("topic_not_in_profile", topic, detail)
            return None
        # A payload-keyed route belongs to one profile, so its decode is the device's.
        return Source(device, self._codecs[device.profile], decoded)

    def handle(self, topic: str, payload: bytes, received_at: float) -> Reading | None:
        """Process one message; return the accepted Reading, or None when nothing was kept."""
        accepted = self.accept(topic, payload, received_at)
        return None if accepted is None else accepted.reading

    def accept(self, topic: str, payload: bytes, received_at: float) -> Accepted | None:
        """:meth:`handle`, returning the device with the Reading (the rules need both: no
        second registry lookup)."""
        self._m_messages.inc()
        if len(payload) > self._max_payload:
            self._reject("oversize", topic, f"{len(payload)} bytes > {self._max_payload}")
            return None
        source = self.resolve(topic, payload, received_at)
        if source is None:
            return None
        device, codec, decoded = source.device, source.codec, source.decoded
        state = self._tracker.state(device.id)
        if not self._rate_limit.allow(state, received_at):
            # Dropped before the heartbeat and the decode: a flood costs no sink or rule work.
            self._metrics.throttled.labels(device.id).inc()
            self._reject("rate_limited", topic, f"device {device.id} is over its message rate")
            return None
        # Any message from a registered device is a heartbeat.
        self._tracker.changed(device.id)
        if state.heard(received_at):
            self.status_change(device, online=True, at=received_at)
        if decoded is None:
            try:
                decoded = codec.decode(payload, received_at)
            except DecodeError as exc:
                detail = f"device {device.id}: {exc.problem.detail}"
                self._reject(exc.problem.reason, topic, detail)
                return None
        for problem in decoded.problems:
            self._metrics.field_problems.labels(problem.reason).inc()
            self._log.warning(
                problem.reason, "device %s on %s: dropped %s", device.id, topic, problem.detail
            )
        if not decoded.fields:
            if decoded.problems:
                self._reject("no_valid_fields", topic, f"device {device.id}: nothing usable")
            return None
        reading = Reading(
            device.id,
            device.profile,
            self._profiles[device.profile].measurement,
            decoded.ts,
            decoded.fields,
            decoded.seq,
        )
        state.take(reading.ts, reading.fields)  # the latest values, for the API and the saves
        self._accept(reading, device)
        return Accepted(reading, device)

    def status_change(self, device: Device, online: bool, at: float) -> None:
        """Write a ``device_status`` point (online 1/0) when a device comes or goes."""
        fields: dict[str, FieldValue] = {"online": online}
        if device.lat is not None and device.lon is not None:
            # Where the device is, for the officers' map of devices coloured by state.
            fields["lat"], fields["lon"] = device.lat, device.lon
        point = Reading(device.id, device.profile, STATUS_MEASUREMENT, at, fields)
        for writer in self._writers:
            writer.write(point, device)

    def _accept(self, reading: Reading, device: Device) -> None:
        counter = self._m_readings.get(reading.measurement)
        if counter is None:
            counter = self._m_readings[reading.measurement] = self._metrics.readings.labels(
                reading.measurement
            ).tally
        counter.inc()
        for writer in self._writers:
            writer.write(reading, device)

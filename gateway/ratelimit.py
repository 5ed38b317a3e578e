"""A token bucket per device: a flooding device is held to a steady rate, the others never notice.

Each device id gets its own bucket of ``burst`` tokens, refilled at ``rate_per_s``; a message
spends one. The clock is the message's receive time, passed in, so the limiter reads no time
of its own and tests drive it with plain numbers. Per message it costs one dict lookup and a
little arithmetic. Only registered devices reach it, so the dict is bounded by the registry.
"""

from __future__ import annotations

# Defaults of FIREGRID_DEVICE_RATE_PER_S and FIREGRID_DEVICE_BURST. No shipped device model
# reports faster than once a second, even in alarm; twice that is headroom, not a flood.
DEFAULT_RATE_PER_S = 2.0
# A broker replays what it queued for the gateway all at once after a restart: ten minutes of
# a device reporting every second must pass, or the drill that proves nothing is lost would
# lose it here.
DEFAULT_BURST = 600.0


class _Bucket:
    __slots__ = ("at", "tokens")

    def __init__(self, tokens: float, at: float) -> None:
        self.tokens = tokens
        self.at = at


class DeviceRateLimit:
    """``allow(device_id, received_at)`` is False while the device is over its rate."""

    def __init__(
        self, rate_per_s: float = DEFAULT_RATE_PER_S, burst: float = DEFAULT_BURST
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def allow(self, device_id: str, now: float) -> bool:
        bucket = self._buckets.get(device_id)
        if bucket is None:
            self._buckets[device_id] = _Bucket(self.burst - 1.0, now)
            return True
        # A wall clock stepped backwards (NTP) refills nothing rather than going negative.
        elapsed = now - bucket.at
        if elapsed > 0:
            bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate_per_s)
            bucket.at = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

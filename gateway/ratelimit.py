"""A token bucket per device: a flooding device is held to a steady rate, the others never notice.

Each device id gets its own bucket of ``burst`` tokens, refilled at ``rate_per_s``; a message
spends one. The clock is the message's receive time, passed in, so the limiter reads no time
of its own and tests drive it with plain numbers. Per message it costs one dict lookup and a
little arithmetic. Only registered devices reach it, so the dict is bounded by the registry.

A bucket is kept as one number, the time at which it will be full again (the "theoretical
arrival time" of GCRA, the same limit as a bucket of tokens and a time): a float per device
rather than an object holding two (~100 bytes per device less, 10 MiB in a district of 100k).
A full bucket is the same as none, so :meth:`DeviceRateLimit.forget_full` (the gateway's
sweep, every 10 s, a step of devices at a time) drops them, and :meth:`DeviceRateLimit.compact`
after the sweep shrinks the dict once most of it is gone: only devices that sent in the last
seconds hold a number.
"""

from __future__ import annotations

from collections.abc import Iterable

# Defaults of FIREGRID_DEVICE_RATE_PER_S and FIREGRID_DEVICE_BURST. No shipped device model
# reports faster than once a second, even in alarm; twice that is headroom, not a flood.
DEFAULT_RATE_PER_S = 2.0
# A broker replays what it queued for the gateway all at once after a restart: ten minutes of
# a device reporting every second must pass, or the drill that proves nothing is lost would
# lose it here.
DEFAULT_BURST = 600.0


class DeviceRateLimit:
    """``allow(device_id, received_at)`` is False while the device is over its rate."""

    def __init__(
        self, rate_per_s: float = DEFAULT_RATE_PER_S, burst: float = DEFAULT_BURST
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._interval = 1.0 / rate_per_s  # what one message costs, in seconds of refill
        self._depth = burst * self._interval  # how far ahead of now a full bucket's debt may go
        self._full_at: dict[str, float] = {}
        self._largest = 0  # the most buckets held since the dict was last built

    def allow(self, device_id: str, now: float) -> bool:
        # A silent device's bucket is full from now on, never fuller.
        full_at = max(self._full_at.get(device_id, now), now) + self._interval
        # More than the bucket's depth ahead: no whole token left. A wall clock stepped
        # backwards (NTP) refills nothing: the step counts as time still to wait, so a step
        # longer than the depth (5 min at the defaults) holds the device for as long as it
        # exceeds the depth.
        if full_at - now > self._depth:
            return False
        self._full_at[device_id] = full_at
        return True

    def forget_full(self, now: float, device_ids: Iterable[str]) -> None:
        """Drop the buckets of ``device_ids`` that are full again by ``now`` (a device at its
        steady pace, every one that fell silent). The sweep passes its steps: a city's 100k
        buckets in one pass held the event loop ~30 ms under load."""
        full_at = self._full_at
        self._largest = max(self._largest, len(full_at))
        for device_id in device_ids:
            t = full_at.get(device_id)
            if t is not None and t <= now:
                del full_at[device_id]

    def compact(self, now: float) -> int:
        """After a sweep: once the buckets are down to half of the most the dict held, build it
        anew with those not yet full (a dict keeps its table at its largest until it grows
        again: ~4 MiB for 100k devices), which costs in proportion to what is kept. This also
        drops the full buckets of devices no sweep visits any more (deleted ones). Returns how
        many buckets are kept."""
        kept = len(self._full_at)
        if kept * 2 <= self._largest:
            self._full_at = {k: t for k, t in self._full_at.items() if t > now}
            self._largest = kept = len(self._full_at)
        return kept

"""A token bucket per device: a flooding device is held to a steady rate, the others never notice.

Each device gets its own bucket of ``burst`` tokens, refilled at ``rate_per_s``; a message
spends one. The clock is the message's receive time, passed in, so the limiter reads no time
of its own and tests drive it with plain numbers.

A bucket is one number, the time at which it will be full again (the "theoretical arrival
time" of GCRA, the same limit as a bucket of tokens and a time), kept on the device's liveness
state (:attr:`gateway.tracker.DeviceState.full_at`): the record every message of a registered
device reaches anyway. The limiter itself holds only the policy — no dict of its own to look
up on every message, and none to sweep: a bucket in the past is simply full.
"""

from __future__ import annotations

from gateway.tracker import DeviceState

# Defaults of FIREGRID_DEVICE_RATE_PER_S and FIREGRID_DEVICE_BURST. No shipped device model
# reports faster than once a second, even in alarm; twice that is headroom, not a flood.
DEFAULT_RATE_PER_S = 2.0
# A broker replays what it queued for the gateway all at once after a restart: ten minutes of
# a device reporting every second must pass, or the drill that proves nothing is lost would
# lose it here.
DEFAULT_BURST = 600.0


class DeviceRateLimit:
    """``allow(state, received_at)`` is False while the device is over its rate."""

    def __init__(
        self, rate_per_s: float = DEFAULT_RATE_PER_S, burst: float = DEFAULT_BURST
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._interval = 1.0 / rate_per_s  # what one message costs, in seconds of refill
        self._depth = burst * self._interval  # how far ahead of now a full bucket's debt may go

    def allow(self, state: DeviceState, now: float) -> bool:
        """Spend one of the device's tokens; False (nothing spent) when none is left."""
        # A silent device's bucket is full from now on, never fuller.
        full_at = max(state.full_at, now) + self._interval
        # More than the bucket's depth ahead: no whole token left. A wall clock stepped
        # backwards (NTP) refills nothing: the step counts as time still to wait, so a step
        # longer than the depth (5 min at the defaults) holds the device for as long as it
        # exceeds the depth.
        if full_at - now > self._depth:
            return False
        state.full_at = full_at
        return True

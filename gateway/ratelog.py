"""Rate-limited logging: a flood of bad messages must not flood the log (or the disk)."""

from __future__ import annotations

import logging
import time


class RateLimitedLogger:
    """At most ``burst`` lines per ``window_s`` per key; then one line saying how many were held."""

    def __init__(self, logger: logging.Logger, burst: int = 10, window_s: float = 60.0) -> None:
        self._logger = logger
        self._burst = burst
        self._window = window_s
        self._windows: dict[str, tuple[float, int]] = {}

    def warning(self, key: str, msg: str, *args: object) -> None:
        now = time.monotonic()
        start, count = self._windows.get(key, (now, 0))
        if now - start > self._window:
            if count > self._burst:
                self._logger.warning(
                    "%s: %d more similar messages suppressed", key, count - self._burst
                )
            start, count = now, 0
        count += 1
        self._windows[key] = (start, count)
        if count <= self._burst:
            self._logger.warning(msg, *args)

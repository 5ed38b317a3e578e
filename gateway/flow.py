"""One MQTT message through the pipeline and the rules: what the ingest client calls.

A compiled object (``gateway.compiled``) rather than a method of the gateway: the MQTT
connection, the pipeline and the rules engine are compiled, and a Python function between them
would be the one interpreted frame every message passes through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from gateway.pipeline import Pipeline
from gateway.rules.outcomes import Outcome
from gateway.rules.runtime import RulesRuntime

ApplyOutcomes = Callable[[Sequence[Outcome]], Awaitable[object]]


class MessageFlow:
    """``flow(topic, payload, received_at)``: None once the message is fully handled, or an
    awaitable when it raised or cleared an incident — the PUBACK waits for it, so an alarm is
    acknowledged to the broker only after its incident is written."""

    def __init__(self, pipeline: Pipeline, rules: RulesRuntime, apply: ApplyOutcomes) -> None:
        self._pipeline = pipeline
        self._rules = rules
        self._apply = apply

    def __call__(self, topic: str, payload: bytes, received_at: float) -> Awaitable[object] | None:
        accepted = self._pipeline.accept(topic, payload, received_at)
        if accepted is None:
            return None
        outcomes = self._rules.on_reading(accepted.reading, accepted.device, received_at)
        return self._apply(outcomes) if outcomes else None

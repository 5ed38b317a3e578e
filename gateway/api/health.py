"""``GET /healthz``: each component's state, from a callback the composition root supplies.

The callback returns ``{name: {"ok": bool, "detail": str, ...}}`` — extra keys (a buffer
size, a lag) are passed through as they are, so they must be JSON-able. It may be sync (reading
a few flags needs no await) or async (pinging a database might).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping

Components = Mapping[str, Mapping[str, object]]
HealthCheck = Callable[[], Components | Awaitable[Components]]


def no_components() -> Components:
    return {}


async def check(health: HealthCheck) -> tuple[bool, dict[str, dict[str, object]]]:
    """(all ok, components). A failing callback is itself reported, as component ``health``."""
    try:
        result = health()
        found = await result if inspect.isawaitable(result) else result
        components = {name: dict(state) for name, state in found.items()}
    except Exception as exc:  # the probe must answer even when a check is broken
        return False, {"health": {"ok": False, "detail": f"health check failed: {exc!r}"}}
    return all(state.get("ok") is True for state in components.values()), components

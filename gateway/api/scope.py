"""Which grids a grid worker's token reaches: its own, and everything beneath them.

A worker (网格员) answers for the grids where it is the worker; a grid leader (网格长) for those
where it is the leader; someone who leads a community (社区) or street (街道) unit answers for
every grid beneath it — the escalation ladder, 小事不出网格, 大事不出社区.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.registry import Registry


def assigned_units(registry: Registry, worker_id: str) -> set[str]:
    """The codes of the units where ``worker_id`` is the worker or the leader."""
    return {
        r.grid.code for r in registry.grids() if worker_id in (r.grid.worker_id, r.grid.leader_id)
    }


def grids_under(registry: Registry, units: Iterable[str]) -> frozenset[str]:
    """``units`` and every unit beneath any of them (an incident carries its base grid code)."""
    roots = set(units)
    if not roots:
        return frozenset()
    below = {
        r.grid.code
        for r in registry.grids()
        if any(g.code in roots for g in registry.ancestors(r.grid.code))
    }
    return frozenset(roots | below)


def worker_scope(
    registry: Registry, worker_id: str, explicit: Iterable[str] | None
) -> frozenset[str]:
    """An explicit list when the token carries one, else what the registry assigns — looked up
    again (see ``auth.SCOPE_TTL_S``), so a re-assigned grid moves with the registry, not with
    old tokens."""
    units = assigned_units(registry, worker_id) if explicit is None else set(explicit)
    return grids_under(registry, units)

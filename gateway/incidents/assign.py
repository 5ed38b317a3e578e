"""分拨派遣 at open: the lowest rung with someone on it, and a micro fire station when needed."""

from __future__ import annotations

from gateway.incidents.dispatch import LADDER, Recipient, Role, climb, pick_station
from gateway.incidents.model import Incident, Status
from gateway.incidents.unit import Unit


def dispatch_new(unit: Unit, incident: Incident) -> None:
    """Send a new incident out; reported → dispatched once anything was written."""
    if incident.test:
        _dispatch_test(unit, incident)
        return
    first = _first_rung(incident)
    level, people = climb(unit.ctx.topology, incident.grid, first)
    if level > first:
        skipped = ", ".join(r.value for r in LADDER[first:level])
        unit.log(
            incident,
            "note",
            note=f"nobody registered as {skipped} for grid {incident.grid or '(none)'}: "
            f"dispatched to the {LADDER[level].value}",
        )
    incident.escalation_level = level
    incident.worker_id = people[0].id if level == 0 else None
    for person in people:
        unit.send(incident, person)
    if unit.ctx.config.dispatch.wants_station(incident.kind, incident.severity):
        dispatch_station(unit, incident)
    unit.move(incident, Status.DISPATCHED)


def _first_rung(incident: Incident) -> int:
    """Where dispatch starts: the grid worker, unless the rule names a higher rung (a patrol
    round the worker missed, or a worker's suspicious scan, goes to the grid leader)."""
    notify = incident.detail.get("notify")
    roles = [role.value for role in LADDER]
    return roles.index(notify) if isinstance(notify, str) and notify in roles else 0


def dispatch_station(unit: Unit, incident: Incident) -> None:
    """The nearest micro fire station (微型消防站); see DispatchConfig for the fallback."""
    config = unit.ctx.config.dispatch
    lat, lon = incident.location.lat, incident.location.lon
    if lat is None or lon is None:
        unit.log(incident, "note", note="the device has no coordinates: no station dispatched")
        return
    station = pick_station(lat, lon, unit.ctx.topology.stations(), config)
    if station is None:
        unit.log(
            incident,
            "note",
            note=f"no micro fire station within {config.station_fallback_max_m:.0f} m: "
            "none dispatched",
        )
        return
    incident.station_id, incident.distance_m = station.id, station.distance_m
    note = (
        ""
        if station.within_radius
        else f"nearest station is {station.distance_m:.0f} m away, beyond the "
        f"{config.station_radius_m:.0f} m radius: dispatched as the fallback"
    )
    unit.send(incident, station, note=note)


def _dispatch_test(unit: Unit, incident: Incident) -> None:
    """A test incident goes to the installer only, and stays ``reported`` when none is known."""
    if not incident.installer:
        unit.log(incident, "note", note="test incident: no installer known, not dispatched")
        return
    unit.send(incident, Recipient(Role.INSTALLER, incident.installer))
    unit.move(incident, Status.DISPATCHED)

"""Checking new devices against the profiles, the grids and the devices already registered."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from gateway.model import NO_THRESHOLDS, Device, GridLevel, Location
from gateway.profiles import DeviceProfile
from gateway.registry.errors import Problem
from gateway.registry.grids import GridRecord, community_and_street


@dataclass(frozen=True, slots=True)
class DeviceDraft:
    """A device as an installer describes it; ``grid=None`` leaves it to the grid map."""

    id: str
    profile: str
    name: str
    location: Location = field(default_factory=Location)
    external_id: str | None = None
    grid: str | None = None
    thresholds: Mapping[str, float] = field(default_factory=dict)
    installer: str | None = None
    commissioning_until: float | None = None


@dataclass(frozen=True, slots=True)
class Known:
    """What drafts are checked against; ``locate`` is the grid map's point-in-polygon."""

    profiles: Mapping[str, DeviceProfile]
    grids: Mapping[str, GridRecord]
    by_id: Mapping[str, Device]
    by_external_id: Mapping[str, Device]
    locate: Callable[[float, float], str | None]


def entry_number(index: int) -> str:
    return f"entry {index + 1}"


def check_batch(
    drafts: Sequence[DeviceDraft], known: Known, name_entry: Callable[[int], str] = entry_number
) -> tuple[list[Device], list[Problem]]:
    """Every draft checked, clashes inside the batch included; devices only when all pass.

    ``name_entry`` says how a message refers to another draft ("entry 3", "line 4").
    """
    devices: list[Device] = []
    problems: list[Problem] = []
    ids: dict[str, int] = {}
    external_ids: dict[str, int] = {}
    for i, draft in enumerate(drafts):
        grid, found = _grid_for(draft, known)
        found += _check_profile(draft, known.profiles)
        found += _check_registered(draft, known)
        found += _check_in_batch(draft, ids, external_ids, name_entry)
        ids.setdefault(draft.id, i)
        if draft.external_id is not None:
            external_ids.setdefault(draft.external_id, i)
        problems += [replace(p, item=i) for p in found]
        if not found and grid is not None:
            devices.append(build_device(draft, grid, known.grids))
    return (devices, []) if not problems else ([], problems)


def draft_of(device: Device) -> DeviceDraft:
    """A registered device as a draft again: what an edit starts from."""
    return DeviceDraft(
        id=device.id,
        profile=device.profile,
        name=device.name,
        location=device.location,
        external_id=device.external_id,
        grid=device.grid,
        thresholds=dict(device.thresholds),
        installer=device.installer,
        commissioning_until=device.commissioning_until,
    )


def build_device(draft: DeviceDraft, grid: str, grids: Mapping[str, GridRecord]) -> Device:
    community, street = community_and_street(grid, grids)
    # Interned: the texts devices share (a profile, a grid, a building's address) are then
    # held once, not once per registration.
    intern = sys.intern
    loc = draft.location
    return Device(
        id=draft.id,
        profile=intern(draft.profile),
        name=intern(draft.name),
        grid=intern(grid),
        location=Location(
            intern(loc.address), intern(loc.building), intern(loc.floor), loc.lat, loc.lon
        ),
        external_id=draft.external_id,
        thresholds=dict(draft.thresholds) if draft.thresholds else NO_THRESHOLDS,
        community=community,
        street=street,
        installer=None if draft.installer is None else intern(draft.installer),
        commissioning_until=draft.commissioning_until,
    )


def _grid_for(draft: DeviceDraft, known: Known) -> tuple[str | None, list[Problem]]:
    if draft.grid is not None:
        record = known.grids.get(draft.grid)
        if record is None:
            return None, [Problem(("grid",), f"unknown grid {draft.grid}")]
        if record.grid.level is not GridLevel.GRID:
            message = f"{draft.grid} is a {record.grid.level}; a device belongs to a base grid"
            return None, [Problem(("grid",), message)]
        return draft.grid, []
    lat, lon = draft.location.lat, draft.location.lon
    if lat is None or lon is None:
        message = f"device {draft.id} has no lat/lon to find its grid from; name one with grid="
        return None, [Problem(("grid",), message)]
    grid = known.locate(lat, lon)
    if grid is None:
        message = f"device {draft.id} at ({lat}, {lon}) lies in no grid; name one with grid="
        return None, [Problem(("grid",), message)]
    return grid, []


def _check_profile(draft: DeviceDraft, profiles: Mapping[str, DeviceProfile]) -> list[Problem]:
    profile = profiles.get(draft.profile)
    if profile is None:
        names = ", ".join(sorted(profiles))
        return [Problem(("profile",), f"unknown profile {draft.profile}; known: {names}")]
    problems = []
    for name in draft.thresholds:
        if name not in profile.thresholds:
            offered = ", ".join(sorted(profile.thresholds)) or "none"
            message = f"profile {profile.name} has no threshold {name}; it has: {offered}"
            problems.append(Problem(("thresholds", name), message))
    keyed_by_external = all("{external_id}" in topic for topic in profile.topics)
    if keyed_by_external and draft.external_id is None:
        # Such a device is only ever named by its external id (a Zigbee2MQTT friendly name).
        message = f"profile {profile.name} reports on {profile.topics[0]}: give external_id"
        problems.append(Problem(("external_id",), message))
    return problems


def _check_registered(draft: DeviceDraft, known: Known) -> list[Problem]:
    """Ids and external ids share one name space: a patrol scan's tag uid may be either."""
    problems = []
    if draft.id in known.by_id:
        problems.append(Problem(("id",), f"device {draft.id} already exists", conflict=True))
    elif draft.id in known.by_external_id:
        owner = known.by_external_id[draft.id].id
        message = f"id {draft.id} is already the external_id of device {owner}"
        problems.append(Problem(("id",), message, conflict=True))
    ext = draft.external_id
    if ext is not None and ext in known.by_external_id:
        owner = known.by_external_id[ext].id
        message = f"external_id {ext} is already used by device {owner}"
        problems.append(Problem(("external_id",), message, conflict=True))
    elif ext is not None and ext in known.by_id and ext != draft.id:
        message = f"external_id {ext} is already the id of another device"
        problems.append(Problem(("external_id",), message, conflict=True))
    return problems


def _check_in_batch(
    draft: DeviceDraft,
    ids: Mapping[str, int],
    external_ids: Mapping[str, int],
    name_entry: Callable[[int], str],
) -> list[Problem]:
    problems = []
    first = ids.get(draft.id, external_ids.get(draft.id))
    if first is not None:
        problems.append(Problem(("id",), f"id {draft.id} is also given by {name_entry(first)}"))
    ext = draft.external_id
    first = None if ext is None else external_ids.get(ext, ids.get(ext))
    if ext is not None and first is not None:
        message = f"external_id {ext} is also given by {name_entry(first)}"
        problems.append(Problem(("external_id",), message))
    return problems

"""Mosquitto accounts and ACL from the registry: everyone on the broker may do only their part.

- a device publishes on its own topics only: its profile's templates filled with its id or
  external id (``devices/sd-1/up``, ``zigbee2mqtt/kitchen-3F``);
- a grid worker's phone is the patrol reader: it publishes scans on the patrol templates with
  its worker id as ``{reader_id}`` (``patrol/w-001/scan``) and reads its own alarms only;
- a micro fire station, and an installer, read their own alarm topic only;
- the gateway reads every device topic and writes the ``grid/...`` topics;
- on request, ``firegrid simulate``'s account (development and demos only): it plays the whole
  fleet, so it publishes on every device topic, and plays every worker's phone and every
  station, so it reads their alarm topics; nothing else.

Nothing else is granted: with an ACL file Mosquitto denies whatever no line allows, and drops
an unauthorised publish silently. Passwords are PBKDF2-SHA512 in Mosquitto's ``$7$`` format.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gateway.incidents.dispatch import Role, recipient_topic

_TOPIC_VAR = re.compile(r"\{([a-z_]+)\}")
_DEVICE_KEYS = frozenset({"device_id", "external_id"})
# Mosquitto's own default; the secrets are random, so a higher work factor would buy nothing.
PBKDF2_ITERATIONS = 101
# What the gateway's account may read besides device topics: the compose health check.
GATEWAY_EXTRA_READS = ("$SYS/broker/uptime",)
GATEWAY_WRITES = ("grid/#",)
# The simulator's responders answer dispatches as any worker or station (gateway/sim/responders.py).
SIMULATOR_READS = (recipient_topic(Role.WORKER, "+"), recipient_topic(Role.STATION, "+"))
SIMULATOR_NOTE = "firegrid simulate: a development/demo account, never for production"


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    id: str
    profile: str
    external_id: str | None = None
    installer: str | None = None


@dataclass(frozen=True, slots=True)
class RegistryView:
    """What the broker needs to know of the registry."""

    topics: Mapping[str, Sequence[str]]  # profile name → its topic templates
    devices: Sequence[DeviceEntry] = ()
    workers: Iterable[str] = ()  # registered, or named worker/leader of a grid
    stations: Iterable[str] = ()


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    note: str = ""  # a comment above the account in the ACL


@dataclass(slots=True)
class Plan:
    accounts: list[Account] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why someone got no account


def _unsafe(text: str) -> bool:
    """A wildcard would grant other devices' topics; a control character would end a line."""
    return any(c in "+#" or ord(c) < 32 or ord(c) == 127 for c in text)


def device_account(device: DeviceEntry, templates: Sequence[str]) -> Account | None:
    """None when the profile names no topic of the device's own (an NFC tag never talks)."""
    values = {"device_id": device.id}
    if device.external_id:
        values["external_id"] = device.external_id
    writes = []
    for template in templates:
        names = set(_TOPIC_VAR.findall(template))
        if names and names <= values.keys():
            writes.append(_TOPIC_VAR.sub(lambda m: values[m.group(1)], template))
    return Account(device.id, writes=tuple(writes)) if writes else None


def reader_templates(topics: Mapping[str, Sequence[str]]) -> list[str]:
    """Templates keyed by the payload with one variable of their own: a reader's topics."""
    found = set()
    for templates in topics.values():
        for template in templates:
            names = set(_TOPIC_VAR.findall(template))
            if len(names) == 1 and not names & _DEVICE_KEYS:
                found.add(template)
    return sorted(found)


def worker_account(worker_id: str, readers: Sequence[str]) -> Account:
    writes = tuple(_TOPIC_VAR.sub(lambda _: worker_id, template) for template in readers)
    return Account(
        f"worker/{worker_id}",
        reads=(recipient_topic(Role.WORKER, worker_id),),
        writes=writes,
    )


def subscriptions(topics: Mapping[str, Sequence[str]]) -> list[str]:
    """The gateway's topic filters: every template with its variables as ``+``."""
    return sorted({_TOPIC_VAR.sub("+", t) for templates in topics.values() for t in templates})


def gateway_account(username: str, topics: Mapping[str, Sequence[str]]) -> Account:
    reads = (*subscriptions(topics), *GATEWAY_EXTRA_READS)
    return Account(username, reads=reads, writes=GATEWAY_WRITES)


def simulator_account(username: str, topics: Mapping[str, Sequence[str]]) -> Account:
    """Publishes as any device (and any worker's phone on the patrol topics); reads only the
    workers' and stations' alarms its responders answer. Not for production: one password
    speaks for the whole fleet."""
    return Account(
        username, reads=SIMULATOR_READS, writes=tuple(subscriptions(topics)), note=SIMULATOR_NOTE
    )


def username_problem(name: str) -> str | None:
    if not name or " " in name or _unsafe(name):
        return f"{name!r} is not a usable user name"
    if ":" in name:
        return f"{name!r}: ':' ends a user name in Mosquitto's password file"
    return None


def refusal(account: Account) -> str | None:
    """Why a registry account cannot be written safely, or None."""
    unsafe = [t for t in account.reads + account.writes if _unsafe(t)]
    if unsafe:
        return f"topic {unsafe[0]!r} would grant more than its own"
    return username_problem(account.username)


def _people(view: RegistryView, readers: Sequence[str]) -> Iterable[tuple[str, Account]]:
    for worker_id in sorted(set(view.workers)):
        yield f"worker {worker_id}", worker_account(worker_id, readers)
    installers = {d.installer for d in view.devices if d.installer}
    for role, ids in ((Role.STATION, set(view.stations)), (Role.INSTALLER, installers)):
        for who in sorted(ids):
            yield f"{role} {who}", Account(f"{role}/{who}", reads=(recipient_topic(role, who),))


def plan_accounts(view: RegistryView, *services: Account) -> Plan:
    """Every account: the services' (the gateway's, the simulator's) first, then the
    registry's; who got none, and why, is in ``skipped``."""
    plan = Plan(list(services))
    candidates: list[tuple[str, Account]] = []
    for device in sorted(view.devices, key=lambda d: d.id):
        templates = view.topics.get(device.profile)
        if templates is None:
            plan.skipped.append(f"device {device.id}: profile {device.profile} is not loaded")
        elif (account := device_account(device, templates)) is not None:
            candidates.append((f"device {device.id}", account))
    candidates += _people(view, reader_templates(view.topics))
    taken = {service.username for service in services}
    for label, account in candidates:
        problem = refusal(account)
        if problem is None and account.username in taken:
            problem = f"user name {account.username} is taken"
        if problem is None:
            taken.add(account.username)
            plan.accounts.append(account)
        else:
            plan.skipped.append(f"{label}: {problem}")
    return plan


def render_acl(accounts: Sequence[Account]) -> str:
    lines = [
        "# Generated by `firegrid broker-config` from the registry; edits are overwritten.",
        "# No anonymous access and no pattern lines: only what is listed here is allowed.",
    ]
    for account in accounts:
        lines.append("")
        if account.note:
            lines.append(f"# {account.note}")
        lines.append(f"user {account.username}")
        lines += [f"topic read {t}" for t in account.reads]
        lines += [f"topic write {t}" for t in account.writes]
    return "\n".join(lines) + "\n"


def hash_password(password: str, salt: bytes | None = None) -> str:
    """Mosquitto 2's ``$7$`` hash: PBKDF2-HMAC-SHA512, 12-byte salt, 64-byte key, base64."""
    salt = os.urandom(12) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    b64 = base64.b64encode
    return f"$7${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(key).decode()}"


def password_matches(password: str, hashed: str) -> bool:
    try:
        _, kind, rounds, salt, key = hashed.split("$")
        if kind != "7":
            return False
        derived = hashlib.pbkdf2_hmac(
            "sha512", password.encode(), base64.b64decode(salt), int(rounds)
        )
        return hmac.compare_digest(derived, base64.b64decode(key))
    except ValueError:
        return False


def parse_passwd(text: str) -> dict[str, str]:
    users = {}
    for line in text.splitlines():
        name, sep, hashed = line.partition(":")
        if sep and name and not name.startswith("#"):
            users[name] = hashed.strip()
    return users


def render_passwd(
    accounts: Sequence[Account],
    existing: Mapping[str, str],
    known: Mapping[str, str],
    new_secret: Callable[[], str],
) -> tuple[str, dict[str, str]]:
    """The password file, and the secrets of accounts that had none until now.

    ``existing`` hashes are kept, so a re-run changes no one's password; ``known`` passwords
    (the gateway's own, from its MQTT URL) are hashed unless the kept hash already matches.
    Accounts no longer in the registry are dropped, which locks them out.
    """
    lines, issued = [], {}
    for account in accounts:
        name = account.username
        hashed = existing.get(name)
        if name in known and (hashed is None or not password_matches(known[name], hashed)):
            hashed = hash_password(known[name])
        if hashed is None:
            issued[name] = new_secret()
            hashed = hash_password(issued[name])
        lines.append(f"{name}:{hashed}")
    return "\n".join(lines) + "\n", issued

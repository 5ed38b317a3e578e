"""Who may do what on the broker, as written into Mosquitto's ACL and password file."""

from __future__ import annotations

import dataclasses
import itertools

from paho.mqtt.client import topic_matches_sub

from gateway.broker_config import (
    Account,
    DeviceEntry,
    RegistryView,
    gateway_account,
    hash_password,
    parse_passwd,
    password_matches,
    plan_accounts,
    render_acl,
    render_passwd,
    simulator_account,
)
from gateway.sim.responders import Responders
from gateway.sim.scale import build_world, sim_plan
from gateway.sim.traffic import reporters
from tests.fixtures.registry import PROFILES

TOPICS = {name: p.topics for name, p in PROFILES.items()}
GATEWAY = gateway_account("firegrid", TOPICS)
SIMULATOR = simulator_account("simulator", TOPICS)


def _plan(*devices: DeviceEntry, workers: tuple[str, ...] = (), stations: tuple[str, ...] = ()):
    view = RegistryView(TOPICS, devices, workers, stations)
    return plan_accounts(view, GATEWAY)


def _by_name(accounts: list[Account]) -> dict[str, Account]:
    return {a.username: a for a in accounts}


def test_each_device_writes_its_own_topics_and_reads_nothing() -> None:
    plan = _plan(
        DeviceEntry("sd-1", "smoke-detector"),
        DeviceEntry("z2m-1", "smoke-detector-z2m", external_id="kitchen 3F"),
        DeviceEntry("nb-1", "smoke-detector-nb", external_id="868120301234567"),
        DeviceEntry("nb-2", "smoke-detector-nb"),  # no external id: its topic by id only
    )
    accounts = _by_name(plan.accounts)
    assert accounts["sd-1"] == Account("sd-1", writes=("devices/sd-1/up", "devices/sd-1/alarm"))
    assert accounts["z2m-1"] == Account("z2m-1", writes=("zigbee2mqtt/kitchen 3F",))
    assert accounts["nb-1"].writes == (
        "devices/nb-1/up",
        "nbiot/868120301234567/up",
        "devices/nb-1/alarm",
    )
    assert accounts["nb-2"].writes == ("devices/nb-2/up", "devices/nb-2/alarm")
    assert all(accounts[d].reads == () for d in ("sd-1", "z2m-1", "nb-1", "nb-2"))
    assert plan.skipped == []


def test_a_workers_phone_reports_patrol_scans_and_reads_only_its_own_alarms() -> None:
    plan = _plan(
        DeviceEntry("tag-1", "nfc-patrol-tag", external_id="04:A2:2B:1C:5F:80"),
        workers=("w-001",),
        stations=("ms-near",),
    )
    accounts = _by_name(plan.accounts)
    assert "tag-1" not in accounts  # a tag never talks: the phone that scans it does
    assert accounts["worker/w-001"] == Account(
        "worker/w-001", reads=("grid/workers/w-001/alarms",), writes=("patrol/w-001/scan",)
    )
    assert accounts["station/ms-near"] == Account(
        "station/ms-near", reads=("grid/stations/ms-near/alarms",)
    )


def test_installers_named_on_devices_read_their_test_alarms() -> None:
    plan = _plan(DeviceEntry("sd-1", "smoke-detector", installer="inst-7"))
    assert _by_name(plan.accounts)["installer/inst-7"] == Account(
        "installer/inst-7", reads=("grid/installers/inst-7/alarms",)
    )


def test_the_gateway_reads_every_device_topic_and_writes_the_grid_topics() -> None:
    assert GATEWAY.reads == (
        "devices/+/alarm",
        "devices/+/up",
        "nbiot/+/up",
        "patrol/+/scan",
        "zigbee2mqtt/+",
        "$SYS/broker/uptime",
    )
    assert GATEWAY.writes == ("grid/#",)
    assert _plan().accounts == [GATEWAY]


def test_the_simulator_publishes_as_any_device_and_reads_only_the_alarms_it_answers() -> None:
    assert SIMULATOR.writes == (
        "devices/+/alarm",
        "devices/+/up",
        "nbiot/+/up",
        "patrol/+/scan",
        "zigbee2mqtt/+",
    )
    assert SIMULATOR.reads == ("grid/workers/+/alarms", "grid/stations/+/alarms")
    # Its responders play every worker's phone and every station: that is all it may read.
    assert set(SIMULATOR.reads) == set(Responders.topics)
    # No dispatch forged in the gateway's name, no installer's or incident's topic overheard.
    for topic in ("grid/workers/w-001/alarms", "grid/incidents/i-1/events", "grid/centre/alarms"):
        assert not any(topic_matches_sub(f, topic) for f in SIMULATOR.writes), topic
    for topic in ("grid/installers/inst-7/alarms", "grid/incidents/i-1/events", "devices/x/up"):
        assert not any(topic_matches_sub(f, topic) for f in SIMULATOR.reads), topic


def test_every_topic_the_simulated_district_publishes_on_is_the_simulators_to_write() -> None:
    district, fleet = build_world(0.02, seed=7)
    plan = dataclasses.replace(sim_plan(PROFILES, 60.0), bad_message_every_s=1.0)
    found = reporters(district, fleet, PROFILES, plan)
    # Enough reports that the bad-message source goes round every kind it makes.
    topics = {r.report(1_767_225_600.0 + n).topic for r in found for n in range(8)}
    assert {t.split("/")[0] for t in topics} == {"devices", "nbiot", "patrol", "zigbee2mqtt"}
    unwritable = [t for t in topics if not any(topic_matches_sub(f, t) for f in SIMULATOR.writes)]
    assert unwritable == []


def test_the_simulator_is_a_service_account_noted_as_demo_only_in_the_acl() -> None:
    plan = plan_accounts(
        RegistryView(TOPICS, [DeviceEntry("simulator", "smoke-detector")]), GATEWAY, SIMULATOR
    )
    assert plan.accounts == [GATEWAY, SIMULATOR]
    assert plan.skipped == ["device simulator: user name simulator is taken"]
    acl = render_acl(plan.accounts)
    assert (
        "\n# firegrid simulate: a development/demo account, never for production\n"
        "user simulator\ntopic read grid/workers/+/alarms\n"
    ) in acl


def test_accounts_that_would_grant_too_much_or_break_the_files_are_refused_by_name() -> None:
    plan = _plan(
        DeviceEntry("sd:1", "smoke-detector"),
        DeviceEntry("z2m-1", "smoke-detector-z2m", external_id="kitchen/#"),
        DeviceEntry("z2m-2", "smoke-detector-z2m", external_id="a\nuser gateway"),
        DeviceEntry("firegrid", "smoke-detector"),
        DeviceEntry("old-1", "retired-model"),
        DeviceEntry("sd-2", "smoke-detector"),
    )
    assert [a.username for a in plan.accounts] == ["firegrid", "sd-2"]
    why = dict(line.split(": ", 1) for line in plan.skipped)
    assert why == {
        "device firegrid": "user name firegrid is taken",
        "device old-1": "profile retired-model is not loaded",
        "device sd:1": "'sd:1': ':' ends a user name in Mosquitto's password file",
        "device z2m-1": "topic 'zigbee2mqtt/kitchen/#' would grant more than its own",
        "device z2m-2": "topic 'zigbee2mqtt/a\\nuser gateway' would grant more than its own",
    }


def test_the_acl_lists_each_user_and_nothing_for_anonymous_clients() -> None:
    plan = _plan(DeviceEntry("sd-1", "smoke-detector"), workers=("w-001",))
    acl = render_acl(plan.accounts)
    body = [line for line in acl.splitlines() if line and not line.startswith("#")]
    assert body[0] == "user firegrid"  # nothing before the first user line: anonymous gets none
    assert "user sd-1\ntopic write devices/sd-1/up\n" in acl
    assert (
        "user worker/w-001\ntopic read grid/workers/w-001/alarms\ntopic write patrol/w-001/scan\n"
        in acl
    )
    assert not any(line.startswith("pattern") for line in body)


def test_mosquitto_hashes_round_trip_and_a_wrong_password_fails() -> None:
    hashed = hash_password("s3cret")
    assert hashed.startswith("$7$101$")
    assert password_matches("s3cret", hashed)
    assert not password_matches("s3cret!", hashed)
    assert not password_matches("s3cret", "$6$abc$def")  # another scheme is never "equal"
    assert not password_matches("s3cret", "garbage")
    # A hash made by mosquitto_passwd 2.0.11 for "secret".
    theirs = (
        "$7$101$pM94PiUcWOo5KM0W$dG/TDMDt30HknS6P50wrFcNlKiDmyJiZm8xY7X4GFxLNpK7+IaV2ew3FUdELqY/"
        "QvniMrOH3niFljCrqzIRNbQ=="
    )
    assert password_matches("secret", theirs)


def test_a_rerun_keeps_every_password_issues_new_ones_once_and_drops_the_removed() -> None:
    secrets = (f"pw-{n}" for n in itertools.count())
    accounts = [GATEWAY, Account("sd-1"), Account("sd-2")]
    first, issued = render_passwd(accounts, {}, {"firegrid": "gw-pw"}, lambda: next(secrets))
    assert issued == {"sd-1": "pw-0", "sd-2": "pw-1"}  # the gateway's is known, not issued
    hashes = parse_passwd(first)
    assert password_matches("gw-pw", hashes["firegrid"])
    assert password_matches("pw-1", hashes["sd-2"])

    later = [GATEWAY, Account("sd-2"), Account("sd-3")]  # sd-1 removed, sd-3 registered
    second, issued = render_passwd(later, hashes, {"firegrid": "gw-pw"}, lambda: next(secrets))
    assert issued == {"sd-3": "pw-2"}
    again = parse_passwd(second)
    assert "sd-1" not in again
    assert again["sd-2"] == hashes["sd-2"] and again["firegrid"] == hashes["firegrid"]

    # The gateway's password changed in its MQTT URL: its hash follows.
    third, _ = render_passwd(later, again, {"firegrid": "new-pw"}, lambda: next(secrets))
    assert password_matches("new-pw", parse_passwd(third)["firegrid"])

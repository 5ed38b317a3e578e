"""Acknowledgement links (接单链接): valid accepts as the recipient; expired or tampered refuses.

No bearer token on any of these requests: the token in the URL is the credential.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.api.ack import AckSigner, AckTokenError, ack_router
from tests.unit.test_bridge_support import BridgeApi, bridge_api

KEY = "ack-secret-for-tests"
HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[BridgeApi]:
    async with bridge_api(
        tmp_path, lambda store, clock: [ack_router(AckSigner(KEY, clock))]
    ) as harness:
        yield harness


def link(api: BridgeApi, incident_id: str, worker: str = "w-001", ttl: float = 3600) -> str:
    signer = AckSigner(KEY, api.incidents.clock)
    return "/ack/" + signer.issue(incident_id, "worker", worker, api.incidents.clock.now + ttl)


async def test_a_valid_link_shows_the_incident_and_accepts_only_on_the_button(
    api: BridgeApi,
) -> None:
    fire = await api.incidents.alarm("sd-0101")
    url = link(api, fire)
    phone = api.client()

    page = await phone.get(url, headers=HTML)
    assert (
        page.status_code == 200 and "确认接单" in page.text and '<form method="post">' in page.text
    )
    assert (await api.service.get(fire)).status == "dispatched"  # a link preview accepts nothing

    accepted = await phone.post(url, headers=HTML)

    assert accepted.status_code == 200 and "已接单" in accepted.text
    incident = await api.service.get(fire)
    step = incident.timeline[-1]
    assert (incident.status, step.event, step.actor) == ("accepted", "accepted", "w-001")


async def test_a_valid_link_answers_json_to_a_client_that_does_not_ask_for_a_page(
    api: BridgeApi,
) -> None:
    fire = await api.incidents.alarm("sd-0101")
    url = link(api, fire, worker="w-101")
    shown = (await api.client().get(url)).json()
    assert (shown["can_accept"], shown["actor"], shown["incident"]["id"]) == (True, "w-101", fire)

    accepted = await api.client().post(url)

    assert accepted.status_code == 200
    assert accepted.json()["incident"]["status"] == "accepted" and accepted.json()["accepted"]
    again = await api.client().post(url)
    assert again.status_code == 409 and again.json()["incident"]["status"] == "accepted"
    assert (await api.client().get(url)).json()["can_accept"] is False


async def test_an_expired_link_is_refused_and_changes_nothing(api: BridgeApi) -> None:
    fire = await api.incidents.alarm("sd-0101")
    url = link(api, fire, ttl=600)
    api.incidents.clock.now += 601

    for response in (await api.client().get(url), await api.client().post(url)):
        assert response.status_code == 410
        assert response.json()["reason"] == "expired"
    page = await api.client().post(url, headers=HTML)
    assert page.status_code == 410 and "链接已过期" in page.text
    assert (await api.service.get(fire)).status == "dispatched"


@pytest.mark.parametrize("part", ["payload", "mac"])
async def test_a_tampered_link_is_refused_and_changes_nothing(api: BridgeApi, part: str) -> None:
    mine, theirs = await api.incidents.alarm("sd-0101"), await api.incidents.alarm("sd-0102")
    token = link(api, mine).removeprefix("/ack/")
    payload, mac = token.split(".")
    if part == "payload":  # the same MAC on someone else's incident, a later expiry
        forged = f"{theirs}\nworker\nw-001\n9999999999".encode()
        payload = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    else:
        mac = ("A" if mac[0] != "A" else "B") + mac[1:]

    response = await api.client().post(f"/ack/{payload}.{mac}")

    assert (response.status_code, response.json()["reason"]) == (403, "tampered")
    assert (await api.service.get(mine)).status == "dispatched"
    assert (await api.service.get(theirs)).status == "dispatched"


async def test_a_link_made_with_another_key_or_not_a_link_at_all_is_refused(
    api: BridgeApi,
) -> None:
    fire = await api.incidents.alarm("sd-0101")
    other = AckSigner("someone-elses-key", api.incidents.clock)
    forged = other.issue(fire, "worker", "w-001", api.incidents.clock.now + 60)
    assert (await api.client().post(f"/ack/{forged}")).json()["reason"] == "tampered"
    for junk in ("nonsense", "a.b.c", "not base64!.AAAA", "%E4%BD%A0.AAAA"):
        response = await api.client().get(f"/ack/{junk}")
        assert (response.status_code, response.json()["reason"]) == (403, "malformed")


def test_tokens_round_trip_and_check_expiry_on_the_signers_clock() -> None:
    now = [1_000.0]
    signer = AckSigner(KEY, lambda: now[0])
    token = signer.issue("INC-20251123-abc", "station", "ms-near", 1_060)
    claim = signer.verify(token)
    assert (claim.incident_id, claim.role, claim.actor, claim.expires_at) == (
        "INC-20251123-abc",
        "station",
        "ms-near",
        1_060,
    )
    assert signer.verify(signer.issue("INC-1", "centre", "", 1_060)).actor == "centre"
    now[0] = 1_061
    with pytest.raises(AckTokenError) as refused:
        signer.verify(token)
    assert refused.value.reason == "expired"
    assert len(token) < 120  # short enough for an SMS

"""``POST /platform/callback``: only a fresh, valid, first-seen signature moves an incident.

The platform's clock here is real time (signatures are checked against it); the incident
service runs on the fake clock of test_api_support.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.api.platform import CallbackVerifier, SignatureError, platform_router
from tests.unit.test_bridge_support import SECRET, BridgeApi, bridge_api, sign

URL = "/platform/callback"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[BridgeApi]:
    async with bridge_api(tmp_path, lambda store, clock: [platform_router(SECRET)]) as harness:
        yield harness


def body(incident_id: str, **fields: Any) -> bytes:
    return orjson.dumps({"incident_id": incident_id, "action": "ack", **fields})


async def post(
    client: httpx.AsyncClient, content: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(URL, content=content, headers=headers)


async def snapshot(api: BridgeApi, incident_id: str) -> tuple[str, int, str | None]:
    incident = await api.service.get(incident_id)
    return incident.status, len(incident.timeline), incident.platform_ref


async def test_a_valid_callback_moves_the_incident_and_stores_the_platform_id(
    api: BridgeApi,
) -> None:
    fire = await api.incidents.alarm("sd-0101")
    content = body(fire, actor="张三", note="平台已派单", platform_ref="SHZL-2025-0001")

    response = await post(api.client(), content, sign(SECRET, content))

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"
    assert response.json()["platform_ref"] == "SHZL-2025-0001"
    incident = await api.service.get(fire)
    accepted = incident.timeline[-1]
    assert (accepted.event, accepted.actor, accepted.note) == (
        "accepted",
        "platform:张三",
        "平台已派单",
    )
    assert incident.platform_ref == "SHZL-2025-0001"


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "no signature",
        "wrong secret",
        "altered body",
        "stale",
        "from the future",
        "not a number",
    ],
)
async def test_a_bad_or_stale_signature_is_401_and_changes_nothing(
    api: BridgeApi, case: str
) -> None:
    fire = await api.incidents.alarm("sd-0101")
    before = await snapshot(api, fire)
    content = body(fire, platform_ref="SHZL-9")
    headers = {
        "missing": {},
        "no signature": {"X-Firegrid-Timestamp": str(int(time.time()))},
        "wrong secret": sign("not-the-secret", content),
        "altered body": sign(SECRET, body(fire, action="close")),
        "stale": sign(SECRET, content, at=time.time() - 301),
        "from the future": sign(SECRET, content, at=time.time() + 302),  # int() truncates
        "not a number": {**sign(SECRET, content), "X-Firegrid-Timestamp": "yesterday"},
    }[case]

    response = await post(api.client(), content, headers)

    assert response.status_code == 401, response.text
    assert await snapshot(api, fire) == before


async def test_the_same_signed_request_twice_is_a_replay_and_refused(api: BridgeApi) -> None:
    fire = await api.incidents.alarm("sd-0101")
    content = body(fire, action="escalate")
    headers = sign(SECRET, content)
    assert (await post(api.client(), content, headers)).status_code == 200
    after_first = await snapshot(api, fire)

    replay = await post(api.client(), content, headers)

    assert (replay.status_code, replay.json()["detail"]) == (
        401,
        "replayed request: this signature was already accepted",
    )
    assert await snapshot(api, fire) == after_first


async def test_a_signed_step_that_does_not_fit_is_409_and_an_unknown_incident_404(
    api: BridgeApi,
) -> None:
    fire = await api.incidents.alarm("sd-0101")
    early = body(fire, action="close")
    response = await post(api.client(), early, sign(SECRET, early))
    assert response.status_code == 409 and "dispatched" in response.json()["detail"]
    unknown = body("INC-nope")
    assert (await post(api.client(), unknown, sign(SECRET, unknown))).status_code == 404


async def test_a_signed_body_that_is_not_a_callback_is_422_and_changes_nothing(
    api: BridgeApi,
) -> None:
    fire = await api.incidents.alarm("sd-0101")
    before = await snapshot(api, fire)
    content = body(fire, action="dispatch")
    response = await post(api.client(), content, sign(SECRET, content))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "action"]
    assert await snapshot(api, fire) == before


async def test_the_platform_may_send_fields_this_contract_does_not_name(api: BridgeApi) -> None:
    fire = await api.incidents.alarm("sd-0101")
    content = body(fire, unit="南京东路街道", priority=1)
    assert (await post(api.client(), content, sign(SECRET, content))).status_code == 200


async def test_without_a_configured_secret_the_callback_is_unavailable(tmp_path: Path) -> None:
    async with bridge_api(tmp_path, lambda store, clock: [platform_router(None)]) as api:
        fire = await api.incidents.alarm("sd-0101")
        content = body(fire)
        response = await post(api.client(), content, sign(SECRET, content))
        assert response.status_code == 503
        assert (await api.service.get(fire)).status == "dispatched"


def test_accepted_signatures_are_forgotten_once_their_window_has_passed() -> None:
    now = [1_000_000.0]
    verifier = CallbackVerifier(SECRET, clock=lambda: now[0], window_s=300)
    content = b"{}"
    headers = sign(SECRET, content, at=now[0])
    ts, sig = headers["X-Firegrid-Timestamp"], headers["X-Firegrid-Signature"]
    verifier.verify(ts, sig, content)
    with pytest.raises(SignatureError, match="replayed"):
        verifier.verify(ts, sig, content)
    now[0] += 301
    with pytest.raises(SignatureError, match="stale"):
        verifier.verify(ts, sig, content)
    assert verifier._seen == set()  # memory holds one window, no more

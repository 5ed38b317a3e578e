"""Every REST body against arbitrary and almost-valid JSON (hypothesis).

A body is either taken — and then holds nothing that could widen an MQTT topic or the broker's
ACL — or refused with a 4xx naming the problem. No body, however odd, gets a 5xx.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse

from gateway.api.incidents import ActionIn
from gateway.api.limits import BodyLimit
from gateway.api.tokens import TokenIn
from gateway.registry.inputs import DeviceIn, GridCollection, StationIn, WorkerIn
from tests.unit.test_property_support import ADMIN, ServedApi, served_api

BOUNDED = settings(
    max_examples=60,
    deadline=2000,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TEXT = st.text(max_size=16) | st.sampled_from(["", " ", "sd-1", "a/b", "x+", "#", "\0", "\ud800"])
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)
SQUARE = [[121.46, 31.23], [121.47, 31.23], [121.47, 31.24], [121.46, 31.24], [121.46, 31.23]]
VALID: dict[str, dict[str, Any]] = {
    "/devices": {
        "id": "sd-9001",
        "profile": "smoke-detector",
        "name": "3F kitchen",
        "external_id": "kitchen-3F",
        "location": {"address": "贵州路 1 号", "floor": "3", "lat": 31.235, "lon": 121.465},
        "thresholds": {"battery_low_pct": 15},
        "installer": "inst-1",
        "commissioning_until": "2026-01-01T00:00:00+08:00",
    },
    "/workers": {"id": "w-9001", "name": "张伟", "phone": "+86 138 0000 0000"},
    "/stations": {"id": "ms-9001", "name": "贵州路站", "phone": "021-1", "lat": 31.2, "lon": 121.4},
    "/grids": {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "G-9001", "name": "第9网格", "level": "grid"},
                "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
            }
        ],
    },
    "/tokens": {"role": "worker", "name": "w", "worker_id": "w-001", "grids": ["G-0101"]},
    "/incidents/{incident}/actions": {"action": "ack", "note": "on my way", "outcome": "fire"},
}
MODELS: dict[str, type[BaseModel]] = {
    "/devices": DeviceIn,
    "/workers": WorkerIn,
    "/stations": StationIn,
    "/grids": GridCollection,
    "/tokens": TokenIn,
    "/incidents/{incident}/actions": ActionIn,
}
TOPIC_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")  # no +, #, / or NUL


@st.composite
def almost_valid(draw: st.DrawFn, body: Any) -> Any:
    """The valid body with one thing wrong somewhere in it: a value swapped, a key dropped or
    added — the near misses a client really sends."""
    body = copy.deepcopy(body)
    node = body
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        change = draw(st.sampled_from(["replace", "drop", "add"]))
        if change == "replace":
            node[key] = draw(JSON)
        elif change == "drop" and isinstance(node, dict):
            del node[key]
        elif isinstance(node, dict):
            node[draw(TEXT)] = draw(JSON)
        return body


def _ids(model: BaseModel) -> Iterator[str]:
    for name in ("id", "worker_id", "installer", "grid"):
        value = getattr(model, name, None)
        if isinstance(value, str):
            yield value


@pytest.mark.parametrize("route", list(MODELS))
@BOUNDED
@given(data=st.data())
def test_a_body_is_taken_safely_or_refused_by_its_model(route: str, data: st.DataObject) -> None:
    body = data.draw(JSON | almost_valid(VALID[route]))
    try:
        model = MODELS[route].model_validate(body)
    except ValidationError:
        return
    for value in _ids(model):
        assert TOPIC_SAFE.match(value), value
    if isinstance(model, DeviceIn):
        assert not any(c in (model.external_id or "") for c in "+#\0")
        model.to_draft()
    elif isinstance(model, GridCollection):
        model.to_records()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApi]:
    with served_api(tmp_path_factory.mktemp("api")) as served:
        yield served


# Near misses hypothesis once found to give a 500: kept here so every run tries them.
FOUND = [
    ("/grids", ["features", 0, "geometry", "coordinates"], {}),
    ("/devices", ["name"], "\ud800"),  # a lone surrogate, echoed in the 422 (see limits.py)
    ("/stations", ["lat"], float("nan")),
]


@pytest.mark.parametrize(("route", "where", "value"), FOUND)
def test_near_misses_once_found_stay_refused(
    api: ServedApi, route: str, where: list[Any], value: Any
) -> None:
    body = copy.deepcopy(VALID[route])
    node = body
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    headers = ADMIN | {"Content-Type": "application/json"}
    response = api.request("POST", _url(api, route), content=json.dumps(body), headers=headers)
    assert response.status_code == 422, response.text


def test_the_valid_bodies_are_valid(api: ServedApi) -> None:
    """The near misses below start from bodies the API takes, or they would test nothing."""
    for route, body in VALID.items():
        response = api.request("POST", _url(api, route), json=body, headers=ADMIN)
        assert response.status_code in (200, 201), (route, response.text)


def _url(api: ServedApi, route: str) -> str:
    return route.replace("{incident}", api.incident_id)


@pytest.mark.parametrize("route", list(VALID))
@BOUNDED
@given(data=st.data())
def test_no_body_gets_a_server_error(api: ServedApi, route: str, data: st.DataObject) -> None:
    body = data.draw(JSON | almost_valid(VALID[route]))
    # json.dumps escapes what a client may send but httpx would refuse to: lone surrogates.
    headers = ADMIN | {"Content-Type": "application/json"}
    response = api.request("POST", _url(api, route), content=json.dumps(body), headers=headers)
    assert response.status_code < 500, (body, response.text)
    if response.status_code == 422:
        assert response.json()["detail"], "a refusal names what was wrong"


# -- the door: gateway.api.limits.BodyLimit, mounted on every app -------------------------


def _echo_app(limit: int = 1000, depth: int = 4) -> Any:
    """A route that reports the body it got, behind the limits under test."""

    async def echo(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await JSONResponse({"got": len(body)})(scope, receive, send)

    return BodyLimit(echo, max_bytes=limit, max_depth=depth)


async def _post(app: Any, content: Any, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.post("/", content=content, headers=headers)


async def test_a_declared_oversize_body_is_refused_before_a_byte_is_read() -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"content-length", b"1001")],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await _echo_app(limit=1000)(scope, receive, send)
    assert sent[0]["status"] == 413


async def test_a_streamed_body_is_cut_off_once_it_passes_the_limit() -> None:
    chunks_read = 0

    async def endless() -> Any:
        nonlocal chunks_read
        while True:
            chunks_read += 1
            yield b"x" * 100

    response = await _post(_echo_app(limit=1000), endless())
    assert response.status_code == 413
    assert chunks_read <= 12  # stopped reading just past the limit
    assert (await _post(_echo_app(limit=1000), b"x" * 1000)).json() == {"got": 1000}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"a": [[[1]]]}', 200),  # four levels: at the limit
        (b'{"a": [[[[1]]]]}', 422),  # five
        (b'{"a": "[[[[[[not nesting]]]]]]"}', 200),  # brackets in a string
        (b'{"lat": NaN}', 422),
        (b'{"lat": Infinity}', 422),
        (b'{"name": "\\ud800"}', 422),  # a lone surrogate
        (b'{"name": "\\ud83d\\udd25"}', 200),  # a surrogate pair: the fire emoji
        (b'{"name": ', 200),  # malformed for everyone: the route answers
    ],
)
async def test_json_the_routes_would_choke_on_is_refused_at_the_door(
    body: bytes, status: int
) -> None:
    response = await _post(_echo_app(depth=4), body, **{"content-type": "application/json"})
    assert response.status_code == status, response.text
    if status == 422:
        [item] = response.json()["detail"]
        assert item["loc"][0] == "body" and item["type"] in ("json_depth", "json_invalid")


async def test_a_csv_body_is_not_taken_for_json() -> None:
    csv = b"id,profile,name\n[[[[[[,NaN,\\ud800\n"
    assert (await _post(_echo_app(depth=4), csv, **{"content-type": "text/csv"})).json() == {
        "got": len(csv)
    }
    assert (await _post(_echo_app(depth=4), b"id,name\nsd-1,NaN\n")).status_code == 200


def test_the_gateways_own_app_refuses_a_nesting_bomb_at_the_door(api: ServedApi) -> None:
    bomb = b'{"id": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    headers = ADMIN | {"Content-Type": "application/json"}
    response = api.request("POST", "/workers", content=bomb, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_depth"

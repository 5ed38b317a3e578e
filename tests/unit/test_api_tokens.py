"""``/tokens``: the admin issues, lists and revokes; a secret is shown once and works at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.unit.test_api_support import Access, access


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Access]:
    async with access(tmp_path) as harness:
        yield harness


async def test_an_issued_token_is_shown_once_listed_without_secret_and_revoked_at_once(
    api: Access,
) -> None:
    issued = await api.admin.post("/tokens", json={"role": "officer", "name": "officer Li"})
    assert issued.status_code == 201
    body = issued.json()
    assert body["role"] == "officer" and body["name"] == "officer Li"
    assert body["revoked_at"] is None and body["created_at"].endswith("Z")
    officer = api.as_(body["secret"])
    assert (await officer.get("/devices")).status_code == 200

    listed = (await api.admin.get("/tokens")).json()
    assert [t["id"] for t in listed] == [body["id"]]
    assert "secret" not in listed[0]
    assert body["secret"] not in (await api.admin.get("/tokens")).text

    assert (await api.admin.delete(f"/tokens/{body['id']}")).status_code == 204
    refused = await officer.get("/devices")
    assert (refused.status_code, refused.json()) == (401, {"detail": "invalid token"})
    assert (await api.admin.get("/tokens")).json() == []
    every = (await api.admin.get("/tokens", params={"include_revoked": True})).json()
    assert every[0]["revoked_at"] is not None
    assert (await api.admin.delete(f"/tokens/{body['id']}")).status_code == 204
    missing = await api.admin.delete("/tokens/tok-nope")
    assert (missing.status_code, missing.json()) == (404, {"detail": "no token tok-nope"})


async def test_a_worker_token_names_a_known_worker_and_known_grids(api: Access) -> None:
    ok = await api.admin.post(
        "/tokens", json={"role": "worker", "name": "张伟", "worker_id": "w-001"}
    )
    assert ok.status_code == 201
    assert (ok.json()["worker_id"], ok.json()["grids"]) == ("w-001", None)

    bad = await api.admin.post(
        "/tokens",
        json={"role": "worker", "name": "x", "worker_id": "w-999", "grids": ["G-0101", "G-9"]},
    )
    assert bad.status_code == 422
    assert [(e["loc"], e["msg"]) for e in bad.json()["detail"]] == [
        (["body", "worker_id"], "no worker w-999: register it, or name it on a grid"),
        (["body", "grids", 1], "no grid G-9"),
    ]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"role": "worker", "name": "x"}, ["body"]),
        ({"role": "officer", "name": "x", "worker_id": "w-001"}, ["body"]),
        ({"role": "officer", "name": "x", "grids": ["G-0101"]}, ["body"]),
        ({"role": "superuser", "name": "x"}, ["body", "role"]),
        ({"role": "officer"}, ["body", "name"]),
        ({"role": "officer", "name": ""}, ["body", "name"]),
        ({"role": "officer", "name": "x", "secret": "mine"}, ["body", "secret"]),
        ({"role": "worker", "name": "x", "worker_id": "w-001", "grids": []}, ["body", "grids"]),
    ],
)
async def test_a_bad_token_request_names_the_field(
    api: Access, body: dict[str, object], loc: list[str]
) -> None:
    response = await api.admin.post("/tokens", json=body)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [loc]


@pytest.mark.parametrize("role", ["officer", "installer", "worker", "platform", "viewer"])
async def test_only_an_admin_manages_tokens(api: Access, role: str) -> None:
    secret = await api.issue(role, worker_id="w-001" if role == "worker" else None)
    client = api.as_(secret)
    for method, path in (("POST", "/tokens"), ("GET", "/tokens"), ("DELETE", "/tokens/x")):
        response = await client.request(method, path, json={"role": "admin", "name": "me"})
        assert response.status_code == 403, (method, path)
        assert response.json() == {"detail": "this needs the admin role"}


async def test_an_issued_admin_token_can_issue_tokens(api: Access) -> None:
    second_admin = api.as_(await api.issue("admin", "deputy"))
    response = await second_admin.post("/tokens", json={"role": "viewer", "name": "grafana"})
    assert response.status_code == 201

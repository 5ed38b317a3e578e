"""Photo evidence on ``/incidents/{id}/evidence``: types by magic bytes, the size limit, who may
upload and look, and the refusals counted on ``/metrics``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.incidents.model import Action
from tests.unit.test_console_support import World, console_world, jpeg, png, webp

LIMIT = 1000


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with console_world(tmp_path, evidence_max_bytes=LIMIT) as found:
        yield found


async def worker(world: World, worker_id: str = "w-001") -> httpx.AsyncClient:
    return world.api.as_(await world.api.issue("worker", worker_id, worker_id))


async def upload(
    client: httpx.AsyncClient, incident: str, body: bytes, media: str = "image/jpeg"
) -> httpx.Response:
    return await client.post(
        f"/incidents/{incident}/evidence", content=body, headers={"Content-Type": media}
    )


async def refused(world: World, reason: str) -> float:
    text = (await world.api.admin.get("/metrics")).text
    line = f'firegrid_evidence_refused_total{{reason="{reason}"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


async def test_a_worker_uploads_a_photo_and_an_officer_sees_the_same_bytes(world: World) -> None:
    fire = await world.alarm("sd-0101")
    zhang = await worker(world)
    officer = world.api.as_(await world.api.issue("officer", "李监管"))

    response = await upload(zhang, fire, png(), media="image/jpeg")  # the header is not trusted
    assert response.status_code == 201, response.text
    photo = response.json()
    assert photo["media_type"] == "image/png"
    assert photo["name"].endswith(".png") and photo["size"] == len(png())
    assert photo["url"] == f"/api/v1/incidents/{fire}/evidence/{photo['name']}"
    stored = world.settings.data_dir / "evidence" / fire / photo["name"]
    assert stored.read_bytes() == png()

    listed = (await officer.get(f"/incidents/{fire}/evidence")).json()
    assert [p["name"] for p in listed] == [photo["name"]]
    served = await officer.get(f"/incidents/{fire}/evidence/{photo['name']}")
    assert served.status_code == 200
    assert served.content == png()
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(("body", "media"), [(jpeg(), "image/jpeg"), (webp(), "image/webp")])
async def test_jpeg_and_webp_are_recognised_by_their_first_bytes(
    world: World, body: bytes, media: str
) -> None:
    fire = await world.alarm("sd-0101")
    response = await upload(await worker(world), fire, body, media="application/octet-stream")
    assert response.status_code == 201, response.text
    assert response.json()["media_type"] == media


async def test_too_large_empty_and_not_an_image_are_refused_precisely_and_counted(
    world: World,
) -> None:
    fire = await world.alarm("sd-0101")
    zhang = await worker(world)

    too_large = await upload(zhang, fire, jpeg() + b"\x00" * LIMIT)
    assert (too_large.status_code, too_large.json()) == (
        413,
        {"detail": f"photo larger than {LIMIT} bytes"},
    )
    empty = await upload(zhang, fire, b"")
    assert (empty.status_code, empty.json()["detail"]) == (
        400,
        "empty body: send the photo's bytes",
    )
    html = await upload(zhang, fire, b"<html><script>alert(1)</script>", media="image/png")
    assert html.status_code == 415
    assert html.json()["detail"].startswith("not a JPEG, PNG or WebP image")
    gif = await upload(zhang, fire, b"GIF89a" + b"\x00" * 20, media="image/gif")
    assert gif.status_code == 415

    assert await refused(world, "too_large") == 1
    assert await refused(world, "empty") == 1
    assert await refused(world, "unsupported_type") == 2
    assert not (world.settings.data_dir / "evidence" / fire).exists()


async def test_photos_are_for_the_incidents_worker_officers_and_admins_only(
    world: World,
) -> None:
    fire = await world.alarm("sd-0101")  # G-0101: w-001's
    name = (await upload(await worker(world), fire, jpeg())).json()["name"]
    paths = (f"/incidents/{fire}/evidence", f"/incidents/{fire}/evidence/{name}")

    li = await worker(world, "w-002")  # G-0102's worker: the incident does not exist for it
    assert (await upload(li, fire, jpeg())).status_code == 404
    for path in paths:
        assert (await li.get(path)).status_code == 404
        assert (await world.api.admin.get(path)).status_code == 200
        assert (await world.api.as_(None).get(path)).status_code == 401
    for role in ("installer", "viewer", "platform"):
        client = world.api.as_(await world.api.issue(role, f"a {role}"))
        assert (await upload(client, fire, jpeg())).status_code == 403
        for path in paths:
            assert (await client.get(path)).status_code == 403, (role, path)


async def test_unknown_incidents_names_and_paths_are_not_found(world: World) -> None:
    fire = await world.alarm("sd-0101")
    admin = world.api.admin
    assert (await upload(admin, "INC-20251123-0000000000", jpeg())).status_code == 404
    for name in ("nope.jpg", "..%2F..%2Fregistry.sqlite", "0000000000000-deadbeef.exe"):
        assert (await admin.get(f"/incidents/{fire}/evidence/{name}")).status_code == 404


async def test_a_closed_incident_takes_no_more_photos(world: World) -> None:
    test = await world.alarm("sd-0101", rule_id="smoke-test", test=True)
    closed = await world.service.act(test, Action.CLOSE, "inst-01")
    assert closed.status.value == "closed"
    response = await upload(world.api.admin, test, jpeg())
    assert (response.status_code, response.json()) == (
        409,
        {"detail": f"incident {test} is closed"},
    )
    assert await refused(world, "closed") == 1

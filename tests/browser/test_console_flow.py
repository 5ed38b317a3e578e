"""The web console in a real browser against a real gateway and a real Mosquitto: an installer
registers and commissions a smoke detector, its alarm reaches the grid worker's phone within
2 s of the MQTT publish, the worker accepts, arrives and handles it with a photo, the officer
verifies and closes it, and the board shows it closed. The installer reads the detector's id from
its QR code through a (fake) camera and edits a device already registered; a worker's page lists
the overdue patrol tags of the worker's grid.

``FIREGRID_SCREENSHOTS=docs/screenshots`` keeps the screenshots of each view (the README's).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
import pytest
import yaml
from playwright.async_api import Page, expect

from tests.browser.camera import qr_label_video
from tests.browser.conftest import Browser
from tests.integration.harness import (
    REPO,
    eventually,
    publish,
    register,
    running,
    settings_for,
)
from tests.servers.mosquitto import MosquittoServer

pytestmark = pytest.mark.integration

ALARM = orjson.dumps({"smoke": True, "battery_pct": 80})
TEST_PRESS = orjson.dumps({"test": True, "battery_pct": 80})
RELEASED = orjson.dumps({"smoke": False, "test": False, "battery_pct": 80})  # the self-test ends
GOOD_CSV = (
    "id,profile,name,address,lat,lon\n"
    "sd-csv-1,smoke-detector,3 号楼烟感,贵州路 130 号,31.236,121.466\n"
    "sd-csv-2,smoke-detector,5 号楼烟感,贵州路 150 号,31.237,121.476\n"
).encode()
BAD_CSV = GOOD_CSV.replace(b"31.237", b"95")
WORKER_POSITION = {"latitude": 31.2362, "longitude": 121.4655}  # a block from the detector


# Records what the worker's page does to get attention, with the incident it is alerting about
# at the time (the page marks it on <body> first). The real calls still go through.
ALERT_SPIES = """
(() => {
  const calls = (window.alertCalls = []);
  const about = () => (document.body && document.body.dataset.alerted) || null;
  const RealNotification = window.Notification;
  window.Notification = class extends RealNotification {
    constructor(title, options) {
      calls.push({ kind: "notification", title, tag: options && options.tag, incident: about() });
      super(title, options);
    }
  };
  const vibrate = navigator.vibrate ? navigator.vibrate.bind(navigator) : () => false;
  navigator.vibrate = (pattern) => {
    calls.push({ kind: "vibrate", pattern, incident: about() });
    return vibrate(pattern);
  };
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    calls.push({ kind: "oscillator", hz: this.frequency.value, incident: about() });
    return start.apply(this, args);
  };
})();
"""


@pytest.fixture
def camera_video(tmp_path: Path) -> Path:
    """The installer's phone camera looks at the label of detector sd-web-1."""
    return qr_label_video("sd-web-1", tmp_path / "qr.y4m")


def png(width: int = 96, height: int = 64) -> bytes:
    """A small real PNG (a red-to-yellow gradient), as a phone camera would send a JPEG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + b"".join(bytes((220, 40 + 180 * x // width, 30)) for x in range(width))
        for _ in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def connected_publisher(port: int) -> paho.Client:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="detector-sd-web-1")
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not connected.wait(10):
        raise TimeoutError("the test publisher did not connect")
    return client


def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("FIREGRID_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def issue(api: httpx.AsyncClient, role: str, name: str, worker_id: str | None = None) -> str:
    body: dict[str, Any] = {"role": role, "name": name}
    if worker_id:
        body["worker_id"] = worker_id
    response = await api.post("/tokens", json=body)
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    return secret


async def sign_in(page: Page, base: str, token: str) -> None:
    await page.goto(f"{base}/console/")
    await page.fill("#token", token)
    await page.click("#signin-form button[type=submit]")
    await expect(page.locator("#stream-status")).to_have_attribute("data-live", "true")


async def district(api: httpx.AsyncClient) -> None:
    await register(api, [])
    for worker in ("w-001", "w-002", "w-003", "w-004", "w-101"):
        response = await api.post("/workers", json={"id": worker, "name": worker, "phone": ""})
        assert response.status_code == 201, response.text
    station = {
        "id": "ms-1",
        "name": "贵州路微型消防站",
        "phone": "",
        "lat": 31.2362,
        "lon": 121.4655,
    }
    assert (await api.post("/stations", json=station)).status_code == 201
    neighbours = [
        ("sd-0102-a", "贵州路 120 号", 31.236, 121.475, "G-0102"),
        ("sd-0103-a", "北京东路 8 号", 31.225, 121.463, "G-0103"),
        ("sd-0104-a", "宁波路 55 号", 31.226, 121.476, "G-0104"),
    ]
    for device_id, address, lat, lon, _ in neighbours:
        location = {"address": address, "building": "1 号楼", "floor": "2", "lat": lat, "lon": lon}
        body = {"id": device_id, "profile": "smoke-detector", "name": address, "location": location}
        response = await api.post("/devices", json=body)
        assert response.status_code == 201, response.text


async def test_installer_worker_and_officer_close_the_loop_in_a_real_browser(
    mosquitto: MosquittoServer, tmp_path: Path, browser: Browser
) -> None:
    shots = screenshots(tmp_path)
    settings = settings_for(tmp_path, mosquitto.url)
    async with running(settings) as (gateway, api):
        await district(api)
        base = f"http://127.0.0.1:{gateway.api_port}"
        installer_token = await issue(api, "installer", "inst-01")
        worker_token = await issue(api, "worker", "张伟", "w-001")
        officer_token = await issue(api, "officer", "李监管")

        # -- the installer: place the sensor, see its grid, save, press the test button --------
        installer = await browser.page()
        await browser.context.grant_permissions(["camera"], origin=base)
        await installer.add_init_script("delete window.BarcodeDetector")
        await sign_in(installer, base, installer_token)
        form = installer.locator("#register-form")
        # The id read from the label's QR code through the camera (jsQR: no BarcodeDetector here).
        await form.locator("#scan-btn").click()
        await expect(form.locator("input[name=id]")).to_have_value("sd-web-1", timeout=10_000)
        await expect(installer.locator("#scan-video")).to_have_attribute("data-decoder", "jsqr")
        await expect(installer.locator("#scan-video")).to_be_hidden()  # the camera is let go
        await form.locator("select[name=profile]").select_option("smoke-detector")
        await expect(installer.locator("#profile-desc")).not_to_be_empty()
        await form.locator("input[name=name]").fill("贵州路 101 号 3 楼烟感")
        await form.locator("input[name=address]").fill("贵州路 101 号")
        await form.locator("input[name=building]").fill("1 号楼")
        await form.locator("input[name=floor]").fill("3")
        # Placed on the map first, then corrected by typing: both show the grid before saving.
        await installer.locator('#installer-map path[data-grid="G-0104"]').click()
        await expect(installer.locator("#grid-found")).to_have_attribute("data-grid", "G-0104")
        await form.locator("input[name=lat]").fill("31.235")
        await form.locator("input[name=lon]").fill("121.465")
        await expect(installer.locator("#grid-found")).to_have_attribute("data-grid", "G-0101")
        await form.locator("button[type=submit]").click()
        status = installer.locator("#commission-status")
        await expect(status).to_have_attribute("data-state", "waiting")
        await asyncio.to_thread(publish, mosquitto.port, [("devices/sd-web-1/up", TEST_PRESS)])
        await expect(status).to_have_attribute("data-state", "commissioned", timeout=10_000)
        # Bulk CSV: a bad line refuses the file, and the page lists the problem by line.
        await installer.locator("#csv-file").set_input_files(
            {"name": "batch.csv", "mimeType": "text/csv", "buffer": BAD_CSV}
        )
        await installer.click("#csv-upload")
        problem = installer.locator('#csv-result li[data-line="3"]')
        await expect(problem).to_contain_text("lat")
        await installer.screenshot(path=shots / "installer.png", full_page=True)
        await installer.locator("#csv-file").set_input_files(
            {"name": "batch.csv", "mimeType": "text/csv", "buffer": GOOD_CSV}
        )
        await installer.click("#csv-upload")
        await expect(installer.locator("#csv-result")).to_contain_text("2")
        assert (await api.get("/devices/sd-csv-2")).json()["grid"] == "G-0102"
        # English on request; Chinese is the default.
        await installer.click("#lang")
        await expect(installer.locator("#register-form h2")).to_have_text("Register a sensor")
        await installer.click("#lang")
        await expect(installer.locator("#register-form h2")).to_have_text("登记传感器")
        # Edit a device on the wall: moved to another building (another grid), renamed, its
        # low-battery threshold raised.
        await installer.locator("#edit-id").fill("sd-csv-1")
        await installer.click("#edit-load")
        await expect(form).to_have_attribute("data-mode", "edit")
        await expect(form.locator("input[name=id]")).to_have_value("sd-csv-1")
        await expect(form.locator("input[name=name]")).to_have_value("3 号楼烟感")
        await expect(installer.locator("#grid-found")).to_have_attribute("data-grid", "G-0101")
        await form.locator("input[name=name]").fill("宁波路 55 号 2 楼烟感")
        await form.locator("input[name=lat]").fill("31.225")
        await form.locator("input[name=lon]").fill("121.475")
        await expect(installer.locator("#grid-found")).to_have_attribute("data-grid", "G-0104")
        await form.locator('input[data-threshold="battery_low_pct"]').fill("25")
        await installer.screenshot(path=shots / "installer-edit.png", full_page=True)
        await form.locator("button[type=submit]").click()
        await expect(installer.locator("#register-result")).to_contain_text("G-0104")
        await expect(form).to_have_attribute("data-mode", "register")
        edited = (await api.get("/devices/sd-csv-1")).json()
        assert (edited["grid"], edited["name"], edited["thresholds"]) == (
            "G-0104",
            "宁波路 55 号 2 楼烟感",
            {"battery_low_pct": 25},
        )
        assert edited["location"]["address"] == "贵州路 130 号"  # what was not touched stays
        [audited] = (await api.get("/audit", params={"subject": "device:sd-csv-1"})).json()[:1]
        assert (audited["actor"], audited["action"]) == ("inst-01", "PUT /api/v1/devices/sd-csv-1")

        await asyncio.to_thread(publish, mosquitto.port, [("devices/sd-web-1/up", RELEASED)])
        commissioned = await api.get("/devices/sd-web-1/commissioning")
        assert commissioned.status_code == 200, commissioned.text
        assert commissioned.json()["by"] == "inst-01"

        # -- the grid worker's phone: the alarm arrives live, within 2 s of the publish ---------
        await browser.context.grant_permissions(["geolocation", "notifications"], origin=base)
        await browser.context.set_geolocation(WORKER_POSITION)
        await installer.close()
        worker = await browser.page(390, 844)
        await worker.add_init_script(ALERT_SPIES)
        await worker.bring_to_front()
        await sign_in(worker, base, worker_token)
        await worker.click("#alerts-on")
        card = worker.locator('article.card[data-device="sd-web-1"]')
        # Connected beforehand, so the clock starts at the publish itself, as a detector's does.
        detector = await asyncio.to_thread(connected_publisher, mosquitto.port)
        try:
            published = time.monotonic()
            detector.publish("devices/sd-web-1/up", ALARM, qos=1)
            await card.wait_for(state="visible", timeout=2000)
            elapsed = time.monotonic() - published
        finally:
            await asyncio.to_thread(detector.loop_stop)
            detector.disconnect()
        print(f"alarm on the worker page {elapsed:.3f} s after the publish")
        assert elapsed <= 2.0
        [incident] = (
            await api.get("/incidents", params={"device": "sd-web-1", "test": "false"})
        ).json()
        assert await worker.evaluate("document.body.dataset.alerted") == incident["id"]
        # The phone really rang, buzzed and notified — each about this incident.
        calls = await worker.evaluate("window.alertCalls")
        about = {c["kind"] for c in calls if c["incident"] == incident["id"]}
        assert about == {"notification", "vibrate", "oscillator"}, calls
        [notified] = [c for c in calls if c["kind"] == "notification"]
        assert incident["title"] in notified["title"] and notified["tag"] == incident["id"]
        await expect(card.locator(".distance")).to_contain_text("m")
        await worker.screenshot(path=shots / "worker.png", full_page=True)

        await card.locator("[data-action=ack]").click()
        await expect(card.locator(".status")).to_have_attribute("data-status", "accepted")
        await card.locator("[data-action=arrive]").click()
        await expect(card.locator(".status")).to_have_attribute("data-status", "on_site")
        await card.locator("[data-action=handle]").click()
        await card.locator("textarea[name=note]").fill("厨房油烟触发，已通风，无火情")
        await card.locator("select[name=outcome]").select_option("false_alarm")
        await card.locator("input[name=photo]").set_input_files(
            {"name": "scene.png", "mimeType": "image/png", "buffer": png()}
        )
        await card.locator("[data-action=handle-submit]").click()
        await expect(card.locator(".status")).to_have_attribute("data-status", "handled")
        await expect(card.locator(".awaiting")).to_be_visible()

        # -- another alarm, escalated, so the board has something to highlight --------------------
        await asyncio.to_thread(publish, mosquitto.port, [("devices/sd-0102-a/up", ALARM)])
        officer_api = {"Authorization": f"Bearer {officer_token}"}
        other = await _one_open(api, "sd-0102-a")
        response = await api.post(
            f"/incidents/{other}/actions",
            json={"action": "escalate", "note": "无人接单"},
            headers=officer_api,
        )
        assert response.status_code == 200, response.text

        # -- the officer: the board, the photo, verify and close --------------------------------
        officer = await browser.page(1366, 1000)
        await officer.bring_to_front()
        await sign_in(officer, base, officer_token)
        row = officer.locator(f'#board-table tr[data-incident="{incident["id"]}"]')
        await expect(row).to_have_attribute("data-status", "handled")
        hot = officer.locator(f'#board-table tr[data-incident="{other}"]')
        await expect(hot).to_have_class(re.compile(r"\bhot\b"))
        await row.locator("[data-action=details]").click()
        await expect(officer.locator("img[data-photo]")).to_be_visible()
        await expect(officer.locator("#officer-map .incident")).to_have_count(2)
        await expect(officer.locator('#health-body [data-health="ok"]')).to_be_visible()
        await expect(officer.locator('#stats-grid tr[data-grid="G-0101"]')).to_be_visible()
        await officer.locator("#board").screenshot(path=shots / "officer-board.png")
        await officer.locator("#officer-map-panel").screenshot(path=shots / "map.png")
        await officer.screenshot(path=shots / "officer.png", full_page=True)

        await row.locator("input.note").fill("电话回访核实：误报")
        await row.locator("[data-action=verify]").click()
        await expect(row).to_have_attribute("data-status", "verified")
        await row.locator("input.note").fill("归档")
        await row.locator("[data-action=close]").click()
        closed = officer.locator(f'#closed-table tr[data-incident="{incident["id"]}"]')
        await expect(closed.locator(".status")).to_have_attribute("data-status", "closed")
        await expect(row).to_have_count(0)
        # The worker's phone drops it too (pushed, not polled).
        await expect(card).to_have_count(0)

        final = (await api.get(f"/incidents/{incident['id']}")).json()
        assert final["status"] == "closed"
        assert final["outcome"] == "false_alarm"
        photos = list((settings.data_dir / "evidence" / incident["id"]).glob("*.png"))
        assert len(photos) == 1
        assert photos[0].read_bytes() == png()


async def _one_open(api: httpx.AsyncClient, device: str) -> str:
    async def probe() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (
            await api.get("/incidents", params={"device": device, "open": "true"})
        ).json()
        return found

    found = await eventually(probe, f"an open incident for {device}", within=10)
    incident_id: str = found[0]["id"]
    return incident_id


def drill_rules(tmp_path: Path, tags: list[str], every_s: float) -> Path:
    """The shipped rules, but ``tags`` must be scanned every ``every_s`` seconds: a patrol
    falls overdue within the test's time, with nothing else about time changed."""
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    path = rules / "patrol.yaml"
    ruleset = yaml.safe_load(path.read_text(encoding="utf-8"))
    [overdue] = [r for r in ruleset["rules"] if r["id"] == "patrol-overdue"]
    overdue["patrol"]["schedules"]["drill"] = {"every_min": every_s / 60}
    overdue["patrol"]["tags"] = dict.fromkeys(tags, "drill")
    path.write_text(yaml.safe_dump(ruleset, allow_unicode=True), encoding="utf-8")
    return rules


async def test_a_grid_worker_sees_the_overdue_patrol_tags_of_their_own_grid(
    mosquitto: MosquittoServer, tmp_path: Path, browser: Browser
) -> None:
    rules = drill_rules(tmp_path, ["tag-0101", "tag-0102"], every_s=3)
    settings = settings_for(tmp_path, mosquitto.url, rules_dir=rules)
    async with running(settings) as (gateway, api):
        await district(api)
        tags = [
            ("tag-0101", "3 号楼消防通道", 31.235, 121.465),  # G-0101: 张伟's grid
            ("tag-0102", "贵州路 120 号楼梯间", 31.236, 121.475),  # G-0102: someone else's
        ]
        for tag_id, address, lat, lon in tags:
            location = {"address": address, "lat": lat, "lon": lon}
            body = {
                "id": tag_id,
                "profile": "nfc-patrol-tag",
                "name": address,
                "location": location,
            }
            response = await api.post("/devices", json=body)
            assert response.status_code == 201, response.text
        token = await issue(api, "worker", "张伟", "w-001")
        worker = await browser.page(390, 844)
        await sign_in(worker, f"http://127.0.0.1:{gateway.api_port}", token)
        await expect(worker.locator("#my-patrols .empty")).to_be_visible()

        # Nobody scans: a few seconds later the tag is overdue, pushed to the worker's page.
        mine = worker.locator("#my-patrols li[data-incident]")
        await expect(mine).to_have_count(1, timeout=20_000)
        await expect(mine).to_contain_text("tag-0101")
        await expect(mine).to_contain_text("3 号楼消防通道")
        overdue = await _one_open(api, "tag-0101")
        assert await mine.get_attribute("data-incident") == overdue
        assert (await api.get(f"/incidents/{overdue}")).json()["kind"] == "patrol_overdue"
        # The other grid's tag is overdue too, but not this worker's to walk to.
        await _one_open(api, "tag-0102")
        await expect(worker.locator("#my-patrols")).not_to_contain_text("tag-0102")
        # An overdue patrol is listed, not rung like an alarm.
        await expect(worker.locator("#my-alarms .empty")).to_be_visible()
        await worker.screenshot(path=screenshots(tmp_path) / "worker-patrols.png", full_page=True)

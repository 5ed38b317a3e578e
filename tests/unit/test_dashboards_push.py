"""``firegrid dashboards push`` against a fake Grafana HTTP API (no Grafana here)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.cli_dashboards import dashboards_app
from gateway.dashboards.render import DASHBOARDS_DIR


@dataclass
class FakeGrafana:
    """Answers the folder and dashboard endpoints grafana-client calls, and records them."""

    folders: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, str, Any]] = field(default_factory=list)
    refuse: bool = False
    url: str = ""


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            auth = self.headers.get("Authorization", "")
            fake.requests.append((self.command, self.path, auth, body))
            return body

        def do_GET(self) -> None:
            self._record()
            if fake.refuse:
                self._answer(401, {"message": "invalid API key"})
            elif self.path.removeprefix("/api/folders/") in fake.folders:
                self._answer(200, {"uid": self.path.rsplit("/", 1)[1]})
            else:
                self._answer(404, {"message": "folder not found"})

        def do_POST(self) -> None:
            body = self._record()
            if self.path == "/api/folders":
                fake.folders.add(body["uid"])
                self._answer(200, {"uid": body["uid"], "title": body["title"]})
            elif self.path == "/api/dashboards/db" and body["folderUid"] in fake.folders:
                uid = body["dashboard"]["uid"]
                self._answer(200, {"status": "success", "uid": uid, "url": f"/d/{uid}/x"})
            else:
                self._answer(400, {"message": "bad request"})

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def push(*args: str) -> Any:
    return CliRunner().invoke(dashboards_app, ["push", *args], catch_exceptions=False)


def _uploads(grafana: FakeGrafana) -> list[dict[str, Any]]:
    return [body for method, path, _, body in grafana.requests if path == "/api/dashboards/db"]


def test_push_creates_the_folder_and_uploads_every_dashboard_with_the_token(
    grafana: FakeGrafana,
) -> None:
    result = push("--url", grafana.url, "--token", "glsa_secret")

    assert result.exit_code == 0, result.output
    assert [(m, p) for m, p, _, _ in grafana.requests[:2]] == [
        ("GET", "/api/folders/firegrid"),
        ("POST", "/api/folders"),
    ]
    assert {auth for _, _, auth, _ in grafana.requests} == {"Bearer glsa_secret"}
    uploads = _uploads(grafana)
    committed = {p.name: json.loads(p.read_text()) for p in DASHBOARDS_DIR.glob("*.json")}
    assert sorted(u["dashboard"]["uid"] for u in uploads) == sorted(
        b["uid"] for b in committed.values()
    )
    assert all(u["folderUid"] == "firegrid" and u["overwrite"] is True for u in uploads)
    assert [u["dashboard"] for u in uploads] == list(_in_render_order(committed))
    assert f"{grafana.url}/d/firegrid-overview/x" in result.output


def _in_render_order(committed: dict[str, Any]) -> Iterator[Any]:
    from gateway.config import Settings
    from gateway.dashboards.render import builders
    from gateway.profiles import load_profiles

    for name in builders(load_profiles(Settings().profiles_dir)):
        yield committed[name]


def test_push_with_a_password_reuses_the_folder_and_retargets_the_datasource(
    grafana: FakeGrafana,
) -> None:
    grafana.folders.add("fire")
    result = push(
        "--url", grafana.url, "--user", "admin", "--password", "pw",
        "--folder", "fire", "--datasource-uid", "P951FEA4DE68E13C5",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    basic = "Basic " + base64.b64encode(b"admin:pw").decode()
    assert {auth for _, _, auth, _ in grafana.requests} == {basic}
    assert not [p for m, p, _, _ in grafana.requests if (m, p) == ("POST", "/api/folders")]
    text = json.dumps(_uploads(grafana))
    assert "firegrid-influxdb" not in text
    assert text.count('"uid": "P951FEA4DE68E13C5"') > 20


def test_push_says_why_grafana_refused_and_exits_1(grafana: FakeGrafana) -> None:
    grafana.refuse = True
    result = push("--url", grafana.url, "--token", "expired")
    assert result.exit_code == 1
    assert "push to" in result.output and "Unauthorized" in result.output


@pytest.mark.parametrize(
    "credentials",
    [[], ["--user", "admin"], ["--token", "t", "--user", "u", "--password", "p"]],
)
def test_push_needs_exactly_one_kind_of_credential(
    grafana: FakeGrafana, credentials: list[str]
) -> None:
    result = push("--url", grafana.url, *credentials)
    assert result.exit_code == 2
    assert grafana.requests == []


def test_build_writes_the_json_the_repository_holds(tmp_path: Path) -> None:
    result = CliRunner().invoke(dashboards_app, ["build", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for path in DASHBOARDS_DIR.glob("*.json"):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes()

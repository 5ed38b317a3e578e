"""The web console (issue 8): installer, grid-worker and officer views, served by firegrid itself.

Static HTML, CSS and vanilla JavaScript under ``static/`` — no build step, no CDN, nothing
fetched from the internet at run time, so it works on a district's private network. The
pages call the same REST API as every other client, with the bearer token pasted at sign-in;
the console adds only what the pages need and the API lacked (each in ``gateway/api/``):
the live event stream (:mod:`gateway.api.events`), photo evidence
(:mod:`gateway.api.evidence`), the grid under a point (:mod:`gateway.api.geo`), commissioning
(:mod:`gateway.api.commissioning`) and ``/me``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from gateway.api import geo, me
from gateway.api.commissioning import CommissioningLog, commissioning_router
from gateway.api.events import EventHub, events_router
from gateway.api.evidence import EvidenceStore, evidence_router
from gateway.config import Settings
from gateway.metrics import Metrics

STATIC = Path(__file__).parent / "static"
PATH = "/console"


class Console:
    """Everything the console needs; the composition root opens it, mounts it, closes it."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        log: CommissioningLog,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.events = EventHub()
        self.evidence = EvidenceStore(settings.data_dir / "evidence", settings.evidence_max_bytes)
        self.commissioning = log
        self._metrics = metrics
        self._clock = clock

    @classmethod
    async def open(
        cls, settings: Settings, metrics: Metrics, clock: Callable[[], float] = time.time
    ) -> Console:
        log = await CommissioningLog.open(settings.data_dir / "console.sqlite")
        return cls(settings, metrics, log, clock)

    async def close(self) -> None:
        self.events.close()
        await self.commissioning.close()

    def api_routers(self) -> list[APIRouter]:
        """Mounted under ``/api/v1`` with the rest of the API (``create_app(routers=...)``)."""
        return [
            events_router(self.events),
            evidence_router(self.evidence, self._metrics, self._clock),
            commissioning_router(self.commissioning, self._clock),
            geo.router,
            me.router,
        ]

    def mount(self, app: FastAPI) -> None:
        """The pages at ``/console/`` (and ``/`` pointing there), their files, their settings."""
        pages = APIRouter(include_in_schema=False)
        config = {
            "tile_url": self.settings.console_tile_url,
            "evidence_max_bytes": self.settings.evidence_max_bytes,
        }

        @pages.get("/")
        def root() -> RedirectResponse:
            return RedirectResponse(f"{PATH}/")

        @pages.get(f"{PATH}/")
        def index() -> FileResponse:
            return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

        @pages.get(f"{PATH}/config.json")
        def console_config() -> JSONResponse:
            return JSONResponse(config)  # nothing secret: where map tiles come from, limits

        app.include_router(pages)
        app.mount(f"{PATH}/static", StaticFiles(directory=STATIC), name="console-static")

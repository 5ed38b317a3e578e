"""``/incidents/{id}/evidence``: photos a grid worker takes on site (处置反馈 with photo evidence).

Kept as files under ``<data_dir>/evidence/<incident>/``. What is accepted is decided by the
bytes, not by what the client claims: JPEG, PNG or WebP by their magic numbers, at most
``evidence_max_bytes`` (``FIREGRID_EVIDENCE_MAX_BYTES``). A refusal is a precise 4xx — 400
empty, 413 too large, 415 not one of the three — and is counted on ``/metrics``
(``firegrid_evidence_refused_total{reason}``).

Who may upload and look: the incident's grid worker (its own grids, as for the incident
itself), officers and admins. Installers, viewers and the platform may not: photos of homes
are not dashboard material.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi import status as http
from fastapi.responses import FileResponse
from prometheus_client import Counter
from pydantic import BaseModel

from gateway.api.auth import Principal, Role, require
from gateway.api.context import Context
from gateway.api.incidents import service
from gateway.api.views import rfc3339
from gateway.metrics import Metrics
from gateway.registry import NotFoundError

Handler = Annotated[Principal, require(Role.OFFICER, Role.WORKER)]

# (media type, file extension, test on the first bytes)
_KINDS: tuple[tuple[str, str, Callable[[bytes], bool]], ...] = (
    ("image/jpeg", "jpg", lambda b: b.startswith(b"\xff\xd8\xff")),
    ("image/png", "png", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
    ("image/webp", "webp", lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP"),
)
_MEDIA = {ext: media for media, ext, _ in _KINDS}
_NAME = re.compile(r"^[0-9]{13}-[0-9a-f]{8}\.(jpg|png|webp)$")
_INCIDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def sniff(data: bytes) -> tuple[str, str] | None:
    """``(media type, extension)`` of a JPEG, PNG or WebP image, else None."""
    for media, ext, test in _KINDS:
        if test(data):
            return media, ext
    return None


class PhotoView(BaseModel):
    name: str
    media_type: str
    size: int
    uploaded_at: str
    url: str


@dataclass(frozen=True, slots=True)
class EvidenceStore:
    """Photo files per incident; names are generated here, never taken from a client."""

    root: Path
    max_bytes: int

    def _dir(self, incident_id: str) -> Path:
        if not _INCIDENT.match(incident_id):  # the ids we issue; nothing that walks paths
            raise NotFoundError(f"no incident {incident_id}")
        return self.root / incident_id

    def save(self, incident_id: str, data: bytes, ext: str, now: float) -> Path:
        folder = self._dir(incident_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{int(now * 1000):013d}-{secrets.token_hex(4)}.{ext}"
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(path)  # a reader never sees half a photo
        return path

    def photos(self, incident_id: str) -> list[Path]:
        folder = self._dir(incident_id)
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if _NAME.match(p.name))

    def photo(self, incident_id: str, name: str) -> Path:
        path = self._dir(incident_id) / name
        if not _NAME.match(name) or not path.is_file():
            raise NotFoundError(f"no photo {name} on incident {incident_id}")
        return path


def _view(incident_id: str, path: Path) -> PhotoView:
    return PhotoView(
        name=path.name,
        media_type=_MEDIA[path.suffix[1:]],
        size=path.stat().st_size,
        uploaded_at=rfc3339(int(path.name[:13]) / 1000) or "",
        url=f"/api/v1/incidents/{incident_id}/evidence/{path.name}",
    )


def evidence_router(
    store: EvidenceStore, metrics: Metrics, clock: Callable[[], float] = time.time
) -> APIRouter:
    refused = Counter(
        "firegrid_evidence_refused",
        "Photo uploads refused, by reason (empty, too_large, unsupported_type, closed)",
        ["reason"],
        registry=metrics.registry,
    )
    stored = Counter("firegrid_evidence_stored", "Photo uploads stored", registry=metrics.registry)
    router = APIRouter(prefix="/incidents/{incident_id}/evidence", tags=["incidents"])

    def refuse(code: int, reason: str, detail: str) -> HTTPException:
        refused.labels(reason).inc()
        return HTTPException(code, detail)

    async def check_visible(ctx: Context, caller: Principal, incident_id: str) -> bool:
        """The incident exists and the caller sees it (404 otherwise, as for the incident);
        answers whether it is still open."""
        incident = await service(ctx).get(incident_id)
        if not caller.sees(incident.grid):
            raise NotFoundError(f"no incident {incident_id}")
        return incident.is_open

    @router.post(
        "",
        status_code=http.HTTP_201_CREATED,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    m: {"schema": {"type": "string", "format": "binary"}}
                    for m in ("image/jpeg", "image/png", "image/webp")
                },
            }
        },
    )
    async def upload(
        incident_id: str, request: Request, ctx: Context, caller: Handler
    ) -> PhotoView:
        """One photo as the raw request body; its type is read from its bytes."""
        is_open = await check_visible(ctx, caller, incident_id)
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > store.max_bytes:
                limit = store.max_bytes
                raise refuse(413, "too_large", f"photo larger than {limit} bytes")
        if not data:
            raise refuse(400, "empty", "empty body: send the photo's bytes")
        kind = sniff(bytes(data[:16]))
        if kind is None:
            detail = (
                "not a JPEG, PNG or WebP image (judged by its first bytes, "
                f"{bytes(data[:8]).hex(' ')}; the Content-Type is not trusted)"
            )
            raise refuse(415, "unsupported_type", detail)
        if not is_open:
            raise refuse(409, "closed", f"incident {incident_id} is closed")
        path = store.save(incident_id, bytes(data), kind[1], clock())
        stored.inc()
        return _view(incident_id, path)

    @router.get("")
    async def list_photos(incident_id: str, ctx: Context, caller: Handler) -> list[PhotoView]:
        await check_visible(ctx, caller, incident_id)
        return [_view(incident_id, p) for p in store.photos(incident_id)]

    @router.get("/{name}", response_class=FileResponse)
    async def photo(incident_id: str, name: str, ctx: Context, caller: Handler) -> FileResponse:
        await check_visible(ctx, caller, incident_id)
        path = store.photo(incident_id, name)
        headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
        return FileResponse(path, media_type=_MEDIA[path.suffix[1:]], headers=headers)

    return router

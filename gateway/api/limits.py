"""Request bodies refused at the door: too large (413), JSON nested too deeply or not JSON (422).

An ASGI middleware, so the refusal comes before routing, authentication and parsing: a body
over the limit is refused from its ``Content-Length`` without reading a byte, or as soon as
the bytes read pass the limit; a nesting bomb costs one linear scan, never a parse.

JSON that only Python's lenient parser (FastAPI's) takes is refused too: ``NaN``,
``Infinity`` and lone UTF-16 surrogates (``"\\ud800"``). A surrogate echoed back in FastAPI's
422 cannot even be encoded, so the client got a 500. Bodies no parser takes are left to the
route: FastAPI answers for JSON ones, and the CSV import reads its body raw.
"""

from __future__ import annotations

import json

import orjson
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.devices import MAX_CSV_BYTES
from gateway.codecs.depth import nesting_exceeds

# The largest legitimate body is a device CSV import; JSON bodies are far smaller.
MAX_BODY_BYTES = MAX_CSV_BYTES
# A GeoJSON MultiPolygon in a FeatureCollection nests 7 levels; four times that is room enough.
MAX_JSON_DEPTH = 32


def _is_json(headers: Headers) -> bool:
    """FastAPI parses a body as JSON when it says so, or says nothing at all."""
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return not media or media == "application/json" or media.endswith("+json")


class BodyLimit:
    """``app.add_middleware(BodyLimit, max_bytes=..., max_depth=...)``."""

    def __init__(
        self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH
    ) -> None:
        self._app = app
        self._max_bytes = max_bytes
        self._max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            await self._too_large(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            body += message.get("body", b"")
            if len(body) > self._max_bytes:
                await self._too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        refused = self._json_refusal(bytes(body)) if body and _is_json(headers) else None
        if refused is not None:
            await JSONResponse({"detail": [refused]}, 422)(scope, receive, send)
            return
        await self._app(scope, _replay(bytes(body), receive), send)

    def _json_refusal(self, body: bytes) -> dict[str, object] | None:
        """A 422 item in FastAPI's shape, or None for a body FastAPI may parse."""
        if nesting_exceeds(body, self._max_depth):
            msg = f"JSON nested deeper than {self._max_depth} levels"
            return {"type": "json_depth", "loc": ["body"], "msg": msg}
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError as strict:
            try:
                json.loads(body)
            except ValueError:  # not JSON to anyone: the route's own answer
                return None
            return {
                "type": "json_invalid",
                "loc": ["body", strict.pos],
                "msg": "not strict JSON (RFC 8259)",
                "ctx": {"error": strict.msg},
            }
        return None

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body larger than {self._max_bytes} bytes"
        await JSONResponse({"detail": detail}, 413)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, as one message; then whatever the server sends (a disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed

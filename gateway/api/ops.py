"""``/healthz`` (open, for load balancers and Docker) and ``/metrics`` (Prometheus, token).

``/metrics`` shows device counts and fleet internals, so it sits behind the bearer token:
give Prometheus the token with ``authorization: {type: Bearer, credentials: <token>}`` in
its scrape config.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.api.auth import VIEWER
from gateway.api.context import Context
from gateway.api.health import check

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz(ctx: Context) -> JSONResponse:
    """``{"status": "ok"|"degraded", "components": {name: {ok, detail, ...}}}``; 503 if degraded."""
    ok, components = await check(ctx.health)
    body = {"status": "ok" if ok else "degraded", "components": components}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", dependencies=[VIEWER], response_class=Response)
def metrics(ctx: Context) -> Response:
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)

"""Registry refusals → HTTP answers, and a count of refused requests for ``/metrics``.

Every 422 has FastAPI's shape — ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`` —
whether pydantic refused the body or the registry refused its content, so a client reads
both the same way. 404 and 409 carry ``{"detail": "<message>"}``.
"""

from __future__ import annotations

import weakref
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter

from gateway.metrics import Metrics
from gateway.registry import ConflictError, CsvImportError, InvalidError, NotFoundError


class ApiMetrics:
    """Counters of this package, registered on the gateway's own metrics registry."""

    def __init__(self, metrics: Metrics) -> None:
        self.refused = Counter(
            "firegrid_api_requests_refused",
            "REST requests refused as invalid (HTTP 422), by operation (add_device, ...)",
            ["operation"],
            registry=metrics.registry,
        )

    def count_refused(self, request: Request) -> None:
        # The route's name, not its path: the path carries no prefix under included routers.
        self.refused.labels(getattr(request.scope.get("route"), "name", "unmatched")).inc()


# One set of counters per Metrics: a second app on the same Metrics (tests, a reload) must not
# register the same names twice, which prometheus_client refuses.
_api_metrics: weakref.WeakKeyDictionary[Metrics, ApiMetrics] = weakref.WeakKeyDictionary()


def api_metrics_for(metrics: Metrics) -> ApiMetrics:
    found = _api_metrics.get(metrics)
    if found is None:
        found = _api_metrics[metrics] = ApiMetrics(metrics)
    return found


def install_error_handlers(app: FastAPI, api_metrics: ApiMetrics) -> None:
    async def malformed(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        api_metrics.count_refused(request)
        return await request_validation_exception_handler(request, exc)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InvalidError)
        api_metrics.count_refused(request)
        detail = [_item(["body", *p.field], p.message, "registry") for p in exc.problems]
        return JSONResponse({"detail": detail}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    async def bad_csv(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CsvImportError)
        api_metrics.count_refused(request)
        detail = [
            {**_item(["body", p.line, p.column], p.message, "csv"), "line": p.line}
            for p in exc.problems
        ]
        return JSONResponse({"detail": detail}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    async def conflict(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status.HTTP_409_CONFLICT)

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status.HTTP_404_NOT_FOUND)

    app.add_exception_handler(RequestValidationError, malformed)
    app.add_exception_handler(InvalidError, invalid)
    app.add_exception_handler(CsvImportError, bad_csv)
    app.add_exception_handler(ConflictError, conflict)
    app.add_exception_handler(NotFoundError, not_found)


def _item(loc: list[str | int], message: str, kind: str) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": message}

"""The OpenAPI spec and its Swagger page, behind the token like every route but ``/healthz``.

The spec holds no data, but "nothing answers without a token" is a rule an auditor can check
by walking every route; an exception would have to be argued each time. Fetch the spec with
``curl -H "Authorization: Bearer $TOKEN" …/api/v1/openapi.json``; the Swagger page works in a
browser that sends the header (e.g. through an extension or a reverse proxy that adds it).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from gateway.api.auth import Role, require

ANY_TOKEN = require(*Role)


def docs_router(app: FastAPI, prefix: str) -> APIRouter:
    """``/openapi.json`` and ``/docs`` under ``prefix``, for any valid token."""
    router = APIRouter(include_in_schema=False, dependencies=[ANY_TOKEN])

    @router.get("/openapi.json")
    def openapi() -> JSONResponse:
        spec: dict[str, Any] = app.openapi()
        return JSONResponse(spec)

    @router.get("/docs")
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=f"{prefix}/openapi.json", title="firegrid API")

    return router

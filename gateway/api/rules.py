"""``/rules``: re-read the rule files now (besides the file watch and SIGHUP). Admin only."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, HTTPException
from fastapi import status as http
from pydantic import BaseModel

from gateway.api.auth import ADMIN
from gateway.yamlfile import ConfigFileError


class ReloadView(BaseModel):
    reloaded: bool
    fingerprint: str


def rules_router(reload: Callable[[], str]) -> APIRouter:
    """``reload`` re-reads the rule files and returns their fingerprint, or raises
    ConfigFileError (the running rules stay)."""
    router = APIRouter(prefix="/rules", tags=["rules"], dependencies=[ADMIN])

    @router.post("/reload")
    def reload_rules() -> ReloadView:
        try:
            return ReloadView(reloaded=True, fingerprint=reload())
        except ConfigFileError as exc:
            # 422: the files are the unprocessable input; the message names file, line, key.
            detail = f"rule files not reloaded, the running rules stay: {exc}"
            raise HTTPException(http.HTTP_422_UNPROCESSABLE_CONTENT, detail) from None

    return router

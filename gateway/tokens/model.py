"""Roles and the token record: plain values, no storage and no HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Who a token speaks for. An admin token passes every role check."""

    ADMIN = "admin"  # the map and who answers for it (grids, workers, stations), tokens
    OFFICER = "officer"  # 消防监管: reads everything, verifies and closes incidents (任务核查)
    INSTALLER = "installer"  # registers, commissions and removes devices
    WORKER = "worker"  # 网格员/网格长: sees and acts on the incidents of its own grids only
    PLATFORM = "platform"  # the grid-governance platform: posts callbacks, nothing else
    VIEWER = "viewer"  # read-only: dashboards, a Prometheus scraper


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An issued token as stored: never the secret, only its hash.

    ``grids`` is an explicit scope for a worker token; ``None`` means "the grids where
    ``worker_id`` is the worker or the leader in the registry", looked up again as the
    registry changes, so a re-drawn assignment takes effect without re-issuing tokens.
    """

    id: str
    name: str
    role: Role
    secret_hash: str
    created_at: float
    worker_id: str | None = None
    grids: tuple[str, ...] | None = None
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

"""``POST /platform/callback``: the grid-governance platform's dispatch and feedback flow back.

"线上吹哨、线下报到": the platform (社会治理综合信息平台) receives every incident as events and
posts its own steps back — a unit accepted (接单), arrived, handled (处置反馈), the centre
verified (核查) or closed (归档) it. Each callback drives the same lifecycle as the REST API,
through :meth:`IncidentService.act`; there is no second state machine. The platform's own id
for the incident (``platform_ref``) is stored against ours with the first callback carrying it.

The callback is authenticated by its signature alone, not by a bearer token: the platform
already shares ``FIREGRID_PLATFORM_SECRET`` to check our events, and the contract names only
the two signature headers. A missing, malformed, wrong or stale signature (timestamp more
than 5 minutes off, either way), or the exact same signed request a second time within the
window (a replay), is refused with 401 before the body is even read as JSON: nothing changes.

The signing functions here serve both directions; ``bridge.platform`` signs outbound events
with :func:`signed_headers`.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi import status as http
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.api.context import Context
from gateway.api.incidents import service
from gateway.incidents.model import Action, Outcome
from gateway.incidents.views import incident_view

TIMESTAMP_HEADER = "X-Firegrid-Timestamp"
SIGNATURE_HEADER = "X-Firegrid-Signature"
REPLAY_WINDOW_S = 300.0
_PREFIX = "sha256="


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">``, as the contract defines it."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return _PREFIX + mac.hexdigest()


def signed_headers(secret: str, body: bytes, now: float) -> dict[str, str]:
    """The two headers that authenticate ``body`` at time ``now`` (unix seconds)."""
    timestamp = str(int(now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


class SignatureError(Exception):
    """Why a signed request is refused (the 401 detail)."""


class CallbackVerifier:
    """Checks signature and time window, and refuses a signature it has already accepted.

    Accepted signatures are remembered until their timestamp leaves the window: after that
    the timestamp alone refuses the request, so memory holds at most one window of traffic.
    Only requests that carried a valid signature are remembered, so nobody without the
    secret can fill it.
    """

    def __init__(
        self,
        secret: str,
        clock: Callable[[], float] = time.time,
        window_s: float = REPLAY_WINDOW_S,
    ) -> None:
        self._secret = secret
        self._clock = clock
        self._window_s = window_s
        self._seen: set[str] = set()
        self._expiry: list[tuple[float, str]] = []  # heap of (forget at, signature)

    def verify(self, timestamp: str | None, signed: str | None, body: bytes) -> None:
        """Return quietly for a fresh, valid, first-seen request; else raise SignatureError."""
        now = self._clock()
        self._forget(now)
        if not timestamp or not signed:
            raise SignatureError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
        try:
            sent_at = int(timestamp)
        except ValueError:
            raise SignatureError(f"{TIMESTAMP_HEADER} is not unix seconds") from None
        if abs(now - sent_at) > self._window_s:
            raise SignatureError(f"stale request: {TIMESTAMP_HEADER} is {int(now - sent_at)} s off")
        # Constant-time: the answer's timing must not tell how much of a forgery matched.
        expected = signature(self._secret, timestamp, body)
        if not hmac.compare_digest(signed.encode(), expected.encode()):
            raise SignatureError("bad signature")
        if signed in self._seen:
            raise SignatureError("replayed request: this signature was already accepted")
        self._seen.add(signed)
        heapq.heappush(self._expiry, (sent_at + self._window_s, signed))

    def _forget(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] < now:
            self._seen.discard(heapq.heappop(self._expiry)[1])


class CallbackIn(BaseModel):
    """The platform's step on one of our incidents. Unknown fields are ignored (a tolerant
    reader: the platform may send more than this contract names)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    incident_id: str = Field(min_length=1, max_length=100)
    action: Action
    actor: str | None = Field(default=None, max_length=200)
    note: str = Field(default="", max_length=2000)
    outcome: Outcome | None = None
    platform_ref: str | None = Field(default=None, max_length=200)


def platform_actor(actor: str | None) -> str:
    """The timeline's actor: ``platform:<who>``, so every step shows the door it came in by."""
    return f"platform:{actor}" if actor else "platform"


def platform_router(
    secret: str | None,
    *,
    clock: Callable[[], float] = time.time,
    window_s: float = REPLAY_WINDOW_S,
) -> APIRouter:
    """The callback route; ``secret`` None (no FIREGRID_PLATFORM_SECRET) answers 503."""
    router = APIRouter(prefix="/platform", tags=["platform"])
    verifier = None if secret is None else CallbackVerifier(secret, clock, window_s)

    @router.post("/callback")
    async def callback(request: Request, ctx: Context) -> dict[str, Any]:
        """Signed by ``X-Firegrid-Signature`` (no bearer token); answers the incident as it
        now stands, 404 for an unknown incident, 409 when the step does not fit."""
        if verifier is None:
            raise HTTPException(
                http.HTTP_503_SERVICE_UNAVAILABLE, "no FIREGRID_PLATFORM_SECRET configured"
            )
        body = await request.body()
        try:
            verifier.verify(
                request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER), body
            )
        except SignatureError as exc:
            raise HTTPException(http.HTTP_401_UNAUTHORIZED, str(exc)) from None
        try:
            step = CallbackIn.model_validate_json(body)
        except ValidationError as exc:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            raise RequestValidationError(errors) from None
        incident = await service(ctx).act(
            step.incident_id,
            step.action,
            platform_actor(step.actor),
            step.note,
            step.outcome,
            step.platform_ref,
        )
        return incident_view(incident)

    return router

"""``/ack/{token}``: accept an incident (接单) from the message that announced it.

Every notification to a person carries ``{FIREGRID_PUBLIC_URL}/api/v1/ack/{token}``. The
token is the credential — an HMAC over the incident id, the recipient and an expiry, made with
``FIREGRID_ACK_SECRET`` — good for one incident, one person, until it expires; so this URL
needs no bearer token. Expired, tampered or malformed tokens are refused (410 / 403 / 403)
with a page (a browser) or JSON (anything else) that says which.

``GET`` shows the incident and a "确认接单" button; only ``POST`` (the button) accepts, as the
recipient. Accepting on ``GET`` would let a machine accept a fire alarm: chat apps and SMS
clients fetch link previews and mail scanners open every link before a person reads them, and
an alarm accepted by a robot stops the escalation reminders while nobody is on the way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi import status as http
from fastapi.responses import HTMLResponse, JSONResponse

from gateway.api.context import Context
from gateway.api.incidents import service
from gateway.incidents.errors import InvalidTransitionError
from gateway.incidents.lifecycle import check
from gateway.incidents.model import Action, Incident
from gateway.incidents.views import incident_view, rfc3339

_CONTEXT = b"firegrid-ack-v1\n"  # a key used for nothing else still gets a domain label
_MAC_BYTES = 16  # 128 bits: unforgeable, and the link stays short enough for an SMS

Reason = Literal["malformed", "tampered", "expired"]


@dataclass(frozen=True, slots=True)
class AckClaim:
    """What a valid token says: this recipient may accept this incident until then."""

    incident_id: str
    role: str  # gateway.incidents.dispatch.Role value: worker, station, centre, …
    recipient_id: str  # empty for the centre
    expires_at: int

    @property
    def actor(self) -> str:
        """Who the timeline credits: the worker or station id (the centre by its role)."""
        return self.recipient_id or self.role


class AckTokenError(Exception):
    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class AckSigner:
    """Issues and checks acknowledgement tokens: ``<payload>.<mac>``, both base64url."""

    def __init__(self, secret: str | bytes, clock: Callable[[], float] = time.time) -> None:
        self._key = secret.encode() if isinstance(secret, str) else secret
        self._clock = clock

    def issue(self, incident_id: str, role: str, recipient_id: str, expires_at: float) -> str:
        parts = (incident_id, role, recipient_id, str(int(expires_at)))
        if any("\n" in p for p in parts):
            raise ValueError("a token field may not contain a line break")
        payload = "\n".join(parts).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def verify(self, token: str) -> AckClaim:
        try:
            encoded, mac = token.split(".")
            payload = _unb64(encoded)
            given = _unb64(mac)
        except ValueError:
            raise AckTokenError("malformed", "this is not an acknowledgement link") from None
        if not hmac.compare_digest(given, self._mac(payload)):
            raise AckTokenError("tampered", "this link has been altered")
        incident_id, role, recipient_id, expires = payload.decode().split("\n")
        claim = AckClaim(incident_id, role, recipient_id, int(expires))
        if self._clock() > claim.expires_at:
            raise AckTokenError("expired", f"this link expired at {rfc3339(claim.expires_at)}")
        return claim

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, _CONTEXT + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def ack_secret(configured: str | None, data_dir: Path) -> str:
    """``FIREGRID_ACK_SECRET``, or one generated once and kept (0600) in the data dir, so the
    links already sent keep working across a restart."""
    if configured:
        return configured
    path = data_dir / "ack-secret"
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
    return secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Strict base64url: the lenient decoder would skip stray characters and accept junk."""
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def ack_path(token: str) -> str:
    """The link's path under the public URL."""
    return f"/api/v1/ack/{token}"


# -- the route ---------------------------------------------------------------------------

_REFUSAL_STATUS = {
    "malformed": http.HTTP_403_FORBIDDEN,
    "tampered": http.HTTP_403_FORBIDDEN,
    "expired": http.HTTP_410_GONE,
}
_REFUSAL_TEXT = {
    "malformed": "链接无效 / Invalid link",
    "tampered": "链接已被篡改 / This link has been altered",
    "expired": "链接已过期 / This link has expired",
}


def ack_router(signer: AckSigner) -> APIRouter:
    router = APIRouter(prefix="/ack", tags=["acknowledgement"])

    @router.get("/{token}")
    async def show(token: str, request: Request, ctx: Context) -> Response:
        """The incident and, while it can still be accepted, the button that accepts it."""
        claim = _claim(signer, token)
        if isinstance(claim, AckTokenError):
            return _refused(request, claim)
        incident = await service(ctx).get(claim.incident_id)
        open_ = _acceptable(incident)
        body: dict[str, Any] = {
            "incident": incident_view(incident),
            "actor": claim.actor,
            "can_accept": open_,
        }
        text = "请确认接单 / Please confirm" if open_ else _already(incident)
        return _answer(request, 200, body, text, incident, button=open_)

    @router.post("/{token}")
    async def accept(token: str, request: Request, ctx: Context) -> Response:
        """Accept (接单) as the recipient the link was made for."""
        claim = _claim(signer, token)
        if isinstance(claim, AckTokenError):
            return _refused(request, claim)
        try:
            incident = await service(ctx).act(
                claim.incident_id,
                Action.ACK,
                claim.actor,
                "接单（消息链接）/ accepted from the link",
            )
        except InvalidTransitionError as exc:
            current = await service(ctx).get(claim.incident_id)
            refused = {"detail": str(exc), "incident": incident_view(current)}
            return _answer(request, 409, refused, _already(current), current)
        body: dict[str, Any] = {
            "incident": incident_view(incident),
            "actor": claim.actor,
            "accepted": True,
        }
        return _answer(request, 200, body, "已接单 / Accepted", incident)

    return router


def _claim(signer: AckSigner, token: str) -> AckClaim | AckTokenError:
    try:
        return signer.verify(token)
    except AckTokenError as exc:
        return exc


def _acceptable(incident: Incident) -> bool:
    try:
        check(incident, Action.ACK)
    except InvalidTransitionError:
        return False
    return True


def _already(incident: Incident) -> str:
    return (
        f"无需接单：事件当前状态为 {incident.status} / Nothing to accept: it is {incident.status}"
    )


def _refused(request: Request, exc: AckTokenError) -> Response:
    body = {"detail": str(exc), "reason": exc.reason}
    return _answer(request, _REFUSAL_STATUS[exc.reason], body, _REFUSAL_TEXT[exc.reason])


def _answer(
    request: Request,
    status: int,
    body: dict[str, Any],
    headline: str,
    incident: Incident | None = None,
    *,
    button: bool = False,
) -> Response:
    """A page for a browser (it asks for text/html), JSON for anything else."""
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse(body, status)
    return HTMLResponse(_page(headline, incident, str(body.get("detail", "")), button), status)


def _page(headline: str, incident: Incident | None, detail: str, button: bool) -> str:
    rows = ""
    if incident is not None:
        loc = incident.location
        where = " ".join(
            p for p in (loc.address, loc.building, loc.floor and f"{loc.floor}层") if p
        )
        rows = (
            f"<p><b>{escape(incident.title)}</b></p>"
            f"<p>{escape(where)}</p><p>{escape(incident.id)} · {escape(incident.status)}</p>"
        )
    form = (
        '<form method="post"><button type="submit" style="font-size:1.4em;padding:.5em 2em">'
        "确认接单 / Accept</button></form>"
        if button
        else ""
    )
    return (
        '<!doctype html><html lang="zh"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>firegrid</title></head><body><h1>{escape(headline)}</h1>{rows}"
        f"<p>{escape(detail)}</p>{form}</body></html>"
    )

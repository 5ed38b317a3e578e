"""The grid-platform connector (事件上报): every lifecycle event POSTed to the platform, signed.

One outbox channel, ``platform``, subscribed to lifecycle events only. Each row is POSTed to
``FIREGRID_PLATFORM_URL`` exactly as the incident service wrote it (the versioned schema in
``docs/platform-api.md``), with ``X-Firegrid-Timestamp`` and ``X-Firegrid-Signature`` made
afresh for each attempt (a retry an hour later must not look stale) and ``Idempotency-Key``
set to the ``event_id``, which the body carries too: a retry re-sends the same key and the
same bytes. Any 2xx is delivery; anything else, or no answer, is retried with backoff, in
order per incident, and dead-lettered after ``max_attempts``.

An unreachable platform (connection refused, timeout, 429/502/503/504) stops the round
after one request instead of trying every incident's head row against a dead server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

import httpx

from bridge.mqtt_dispatch import ChannelDownError, DeliveryError, OutboxDelivery
from bridge.retry import DEFAULT_BACKOFF
from gateway.api.platform import signed_headers
from gateway.incidents.outbox import MessageType, OutboxReader, OutboxRow

CHANNEL = "platform"
SUBSCRIBES = frozenset({MessageType.EVENT})
_OVERLOADED = frozenset({429, 502, 503, 504})


class PlatformConnector(OutboxDelivery):
    """``async with PlatformConnector(outbox, url, secret):`` drains the ``platform`` channel.

    ``clock`` is the outbox's clock (due times); ``wall`` stamps signatures, which the
    platform checks against real time whatever clock the gateway runs on. A ``client`` passed
    in stays the caller's to close.
    """

    def __init__(
        self,
        outbox: OutboxReader,
        url: str,
        secret: str,
        *,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        wall: Callable[[], float] = time.time,
        backoff: Callable[[int], float] = DEFAULT_BACKOFF,
        max_attempts: int | None = 20,
        poll_s: float = 0.5,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = url
        self._secret = secret
        self._wall = wall
        self._owns_client = client is None
        # No redirects: a POST that is redirected is not a delivery we can vouch for.
        self._client = client or httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        super().__init__(
            outbox,
            self._post,
            channel=CHANNEL,
            clock=clock,
            backoff=backoff,
            max_attempts=max_attempts,
            poll_s=poll_s,
        )

    async def _post(self, row: OutboxRow) -> None:
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": row.event_id,
            "User-Agent": "firegrid-bridge",
            **signed_headers(self._secret, row.body, self._wall()),
        }
        try:
            response = await self._client.post(self._url, content=row.body, headers=headers)
        except httpx.TransportError as exc:
            raise ChannelDownError(f"platform unreachable: {exc!r}") from exc
        if response.is_success:
            return
        detail = f"platform answered {response.status_code}: {response.text[:200]}"
        if response.status_code in _OVERLOADED:
            raise ChannelDownError(detail)
        raise DeliveryError(detail)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await super().__aexit__(exc_type, exc, tb)
        if self._owns_client:
            await self._client.aclose()

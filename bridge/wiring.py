"""The bridge as the composition root sees it: which outbox channels exist, and their workers.

Two steps, because the outbox store must know its channels before it opens (a message is
queued for exactly the channels that will drain it): :meth:`Bridge.subscriptions` first, then
``async with bridge.running(outbox, …)`` starts the platform connector and the people
channels the routing file uses, and registers delivery health on ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry

from bridge.health import BacklogSource, DeliveryHealth
from bridge.mqtt_dispatch import OutboxDelivery
from bridge.notify.routing import Channel, NotifyConfig, load_notify_config
from bridge.retry import Backoff
from gateway.api.ack import AckSigner
from gateway.config import Settings
from gateway.incidents.dispatch import Role
from gateway.incidents.outbox import DEFAULT_CHANNELS, MessageType, OutboxReader
from gateway.model import FireStation, GridWorker

if TYPE_CHECKING:
    from bridge.notify.channel import PhoneBook
    from bridge.notify.senders import Sender

log = logging.getLogger(__name__)


class Outbox(OutboxReader, BacklogSource, Protocol):
    """The outbox as the bridge drains and measures it (``SqliteIncidentStore`` fits)."""


class People(Protocol):
    """Where registered phones come from (``gateway.registry.Registry`` fits)."""

    def worker(self, worker_id: str) -> GridWorker | None: ...

    def station(self, station_id: str) -> FireStation | None: ...


def registry_phones(people: People) -> PhoneBook:
    def phone(role: Role, recipient_id: str) -> str | None:
        if role is Role.STATION:
            station = people.station(recipient_id)
            return station.phone if station else None
        if role in (Role.CENTRE, Role.INSTALLER):
            return None
        worker = people.worker(recipient_id)
        return worker.phone if worker else None

    return phone


class Bridge:
    def __init__(
        self,
        settings: Settings,
        signer: AckSigner,
        public_url: Callable[[], str],
        phones: PhoneBook,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._signer = signer
        self._public_url = public_url
        self._phones = phones
        self._clock = clock
        path = settings.notify_file
        self.notify: NotifyConfig | None = load_notify_config(path) if path else None

    def subscriptions(self) -> Mapping[str, frozenset[MessageType]]:
        channels = dict(DEFAULT_CHANNELS)
        if self._settings.platform_url:
            # Imported here, not at the top: httpx (and the rich and pygments it loads, ~4 MiB)
            # would otherwise sit in every gateway process, a platform configured or not.
            from bridge import platform

            channels[platform.CHANNEL] = platform.SUBSCRIBES
        if self.notify is not None:
            # Likewise httpx and apprise (~7 MiB together): only with a routing file.
            from bridge.notify import channel as people

            for kind in self.notify.channels():
                channels[kind.value] = people.SUBSCRIBES
        return channels

    @contextlib.asynccontextmanager
    async def running(
        self, outbox: Outbox, others: Sequence[OutboxDelivery], metrics: CollectorRegistry
    ) -> AsyncIterator[list[OutboxDelivery]]:
        """Runs the bridge's channels; ``others`` (the MQTT channel) join their metrics."""
        s = self._settings
        async with contextlib.AsyncExitStack() as stack:
            workers: list[OutboxDelivery] = []
            if s.platform_url and s.platform_secret:
                from bridge.platform import PlatformConnector  # httpx: see subscriptions()

                workers.append(
                    PlatformConnector(
                        outbox,
                        s.platform_url,
                        s.platform_secret,
                        timeout_s=s.platform_timeout_s,
                        clock=self._clock,
                        backoff=self._backoff(),
                        max_attempts=s.outbox_max_attempts,
                    )
                )
            if self.notify is not None:
                workers += await self._people(stack, outbox, self.notify)
            for worker in workers:
                await stack.enter_async_context(worker)
            health = DeliveryHealth(
                outbox, [*others, *workers], self._clock, asyncio.get_running_loop()
            )
            metrics.register(health)
            stack.callback(metrics.unregister, health)
            yield workers

    async def _people(
        self, stack: contextlib.AsyncExitStack, outbox: Outbox, config: NotifyConfig
    ) -> list[OutboxDelivery]:
        # httpx and apprise: see subscriptions().
        import httpx

        from bridge.notify.channel import AckLinks, NotifyChannel
        from bridge.notify.senders import (
            AppriseSender,
            DingTalk,
            HttpSms,
            WeComBot,
            contact_apprise_urls,
            email_urls,
        )

        t = config.transports
        client = await stack.enter_async_context(
            httpx.AsyncClient(timeout=t.timeout_s, follow_redirects=False)
        )
        if not self._settings.public_url:
            log.warning(
                "no FIREGRID_PUBLIC_URL: acknowledgement links point at %s", self._public_url()
            )
        links = AckLinks(self._signer, self._public_url, self._settings.ack_ttl_s)
        senders: dict[Channel, Sender] = {
            Channel.WECOM: WeComBot(client, t.wecom_url),
            Channel.DINGTALK: DingTalk(client, t.dingtalk_url),
            Channel.APPRISE: AppriseSender("apprise", contact_apprise_urls),
        }
        if t.sms is not None:
            senders[Channel.SMS] = HttpSms(client, t.sms)
        if t.email is not None:
            senders[Channel.EMAIL] = AppriseSender("email", email_urls(t.email))
        return [
            NotifyChannel(
                outbox,
                channel,
                config,
                senders[channel],
                links,
                self._phones,
                clock=self._clock,
                backoff=self._backoff(),
                max_attempts=self._settings.outbox_max_attempts,
            )
            for channel in sorted(config.channels())
        ]

    def _backoff(self) -> Backoff:
        return Backoff(self._settings.outbox_backoff_s, self._settings.outbox_backoff_max_s)

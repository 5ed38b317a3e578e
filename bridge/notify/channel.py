"""A people channel: dispatches and reminders (催办) from the outbox, to a person's phone.

Each channel (``wecom``, ``dingtalk``, ``sms``, ``email``, ``apprise``) drains its own rows of
the outbox with the shared :class:`~bridge.mqtt_dispatch.OutboxDelivery` loop, so it retries,
keeps order per incident and dead-letters on its own: WeCom being rate-limited does not hold
the SMS back. For each dispatch row the routing file decides whether this channel carries it
(role, kind, severity, reminder); one it does not carry is done with nothing sent. One it
carries but cannot address — no contact for the recipient — is dead-lettered at once: a
missing phone number must show up on ``/outbox/dead`` rather than vanish.

Every message carries a signed, expiring acknowledgement link for its recipient
(``gateway.api.ack``). The link's expiry counts from the row's creation, so a retry sends the
very same text.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from bridge.mqtt_dispatch import OutboxDelivery, UndeliverableError
from bridge.notify.routing import Channel, Contact, NotifyConfig
from bridge.notify.senders import Message, Sender
from bridge.notify.templates import render
from bridge.retry import DEFAULT_BACKOFF
from gateway.api.ack import AckSigner, ack_path
from gateway.incidents.dispatch import Recipient, Role
from gateway.incidents.outbox import MessageType, OutboxReader, OutboxRow
from gateway.rules.outcomes import IncidentKind, Severity

SUBSCRIBES = frozenset({MessageType.DISPATCH})

# The phone the registry holds for a recipient (workers and stations register one), if any.
PhoneBook = Callable[[Role, str], str | None]


@dataclass(frozen=True, slots=True)
class AckLinks:
    """``{public_url}/api/v1/ack/{token}`` for one recipient of one incident."""

    signer: AckSigner
    public_url: Callable[[], str]  # resolved late: the API port may be chosen at start
    ttl_s: float

    def for_row(self, row: OutboxRow, recipient: Recipient) -> tuple[str, float]:
        expires_at = row.created_at + self.ttl_s
        token = self.signer.issue(row.incident_id, recipient.role, recipient.id, expires_at)
        return self.public_url().rstrip("/") + ack_path(token), expires_at


class NotifyChannel(OutboxDelivery):
    def __init__(
        self,
        outbox: OutboxReader,
        channel: Channel,
        config: NotifyConfig,
        sender: Sender,
        links: AckLinks,
        phones: PhoneBook,
        *,
        clock: Callable[[], float] = time.time,
        backoff: Callable[[int], float] = DEFAULT_BACKOFF,
        max_attempts: int | None = 20,
        poll_s: float = 0.5,
    ) -> None:
        self._kind = channel
        self._config = config
        self._sender = sender
        self._links = links
        self._phones = phones
        super().__init__(
            outbox,
            self._deliver,
            channel=channel.value,
            clock=clock,
            backoff=backoff,
            max_attempts=max_attempts,
            poll_s=poll_s,
        )

    async def _deliver(self, row: OutboxRow) -> None:
        recipient = row.recipient
        if recipient is None:  # a lifecycle event: not for people channels
            return
        payload: dict[str, Any] = orjson.loads(row.body)
        wanted = self._config.wants(
            self._kind,
            recipient.role,
            IncidentKind(payload["kind"]),
            Severity(payload["severity"]),
            bool(payload.get("reminder")),
        )
        if not wanted:
            return
        contact = self.contact(recipient)
        if contact is None or not contact.has(self._kind):
            who = f"{recipient.role} {recipient.id}".strip()
            raise UndeliverableError(f"no {self._kind} contact for {who} in the routing file")
        link, expires_at = self._links.for_row(row, recipient)
        language = contact.language or self._config.language
        text = render(
            payload, language, link, expires_at, self._config.zone, self._config.templates
        )
        message = Message(text.title, text.text, text.sms, row.event_id, row.incident_id)
        await self._sender(message, contact)

    def contact(self, recipient: Recipient) -> Contact | None:
        """The routing file's contact, with the registry's phone where the file has none."""
        found = self._config.contact(recipient.role, recipient.id)
        if found is not None and found.phone:
            return found
        phone = self._phones(recipient.role, recipient.id) if recipient.id else None
        if not phone:
            return found
        return Contact(phone=phone) if found is None else found.model_copy(update={"phone": phone})

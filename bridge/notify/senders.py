"""The transports behind the people channels: one message to one contact, or an exception.

WeCom (企业微信) group bots, DingTalk (钉钉) robots and the SMS gateway are small httpx calls
of our own; email and any other service go through apprise. Why not apprise for all: WeCom
and DingTalk answer HTTP 200 to a refused message and put the refusal in the body (``errcode``
45009 / 130101: too many messages a minute; 93000: bad key), and apprise's plugins count any
200 as sent — a rate-limited fire alarm would be marked delivered and never retried. Their
endpoints are also fixed in apprise, which shuts out private deployments (私有化部署) and a
test receiver. SMTP has no such trap, and apprise brings a hundred more services for free.

Exceptions follow the outbox's vocabulary: :class:`DeliveryError` (retry later),
:class:`ChannelDownError` (the service is unreachable: stop the round),
:class:`UndeliverableError` (configuration: dead-letter at once).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import apprise
import httpx

from bridge.mqtt_dispatch import ChannelDownError, DeliveryError, UndeliverableError
from bridge.notify.routing import Contact, DingTalkRobot, EmailAccount, SmsGateway


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    text: str
    sms: str
    event_id: str
    incident_id: str


Sender = Callable[[Message, Contact], Awaitable[None]]


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


async def _post(client: httpx.AsyncClient, name: str, url: str, **request: Any) -> httpx.Response:
    try:
        response = await client.post(url, **request)
    except httpx.TransportError as exc:
        raise ChannelDownError(f"{name} unreachable: {exc!r}") from exc
    if not response.is_success:
        raise DeliveryError(f"{name} answered {response.status_code}: {response.text[:200]}")
    return response


def _errcode(name: str, response: httpx.Response) -> None:
    """WeCom and DingTalk: HTTP 200 with ``{"errcode": 0}`` is the only success."""
    try:
        answer = response.json()
    except ValueError:
        raise DeliveryError(f"{name} answered 200 without JSON: {response.text[:200]}") from None
    code = answer.get("errcode") if isinstance(answer, dict) else None
    if code != 0:
        raise DeliveryError(f"{name} refused the message: errcode {code}: {answer}")


class WeComBot:
    """企业微信群机器人: a text message, @-mentioning the recipient's phone when known."""

    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self._client = client
        self._base_url = base_url

    async def __call__(self, message: Message, contact: Contact) -> None:
        bot = contact.wecom or ""
        url = bot if _is_url(bot) else f"{self._base_url}?key={quote(bot, safe='')}"
        text: dict[str, Any] = {"content": message.text}
        if contact.phone:
            text["mentioned_mobile_list"] = [contact.phone]
        response = await _post(self._client, "WeCom", url, json={"msgtype": "text", "text": text})
        _errcode("WeCom", response)


class DingTalk:
    """钉钉自定义机器人: a text message, @-mentioning the phone; signed when the robot uses 加签
    (HMAC-SHA256 of ``"{ms}\\n{secret}"``, base64, as ``timestamp`` and ``sign``)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._base_url = base_url
        self._wall = wall

    async def __call__(self, message: Message, contact: Contact) -> None:
        robot = contact.dingtalk or DingTalkRobot(webhook="")
        url = robot.webhook
        if not _is_url(url):
            url = f"{self._base_url}?access_token={quote(url, safe='')}"
        payload = {
            "msgtype": "text",
            "text": {"content": message.text},
            "at": {"atMobiles": [contact.phone] if contact.phone else [], "isAtAll": False},
        }
        target = httpx.URL(url)
        if robot.secret:  # merged: ``params=`` would replace the webhook's access_token
            target = target.copy_merge_params(self.signature(robot.secret))
        response = await _post(self._client, "DingTalk", str(target), json=payload)
        _errcode("DingTalk", response)

    def signature(self, secret: str) -> dict[str, str]:
        timestamp = str(int(self._wall() * 1000))
        mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
        return {"timestamp": timestamp, "sign": base64.b64encode(mac.digest()).decode()}


class HttpSms:
    """An SMS gateway over HTTP, shaped by ``transports.sms`` in the routing file."""

    def __init__(self, client: httpx.AsyncClient, gateway: SmsGateway) -> None:
        self._client = client
        self._gateway = gateway

    async def __call__(self, message: Message, contact: Contact) -> None:
        values = {
            "phone": contact.phone or "",
            "text": message.sms,
            "title": message.title,
            "event_id": message.event_id,
            "incident_id": message.incident_id,
        }
        g = self._gateway
        body = _fill(g.body, values)
        headers = {k: v.format_map(values) for k, v in g.headers.items()}
        request: dict[str, Any] = {"json": body} if g.encoding == "json" else {"data": body}
        response = await _post(self._client, "SMS gateway", g.url, headers=headers, **request)
        if g.ok:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if not isinstance(answer, dict) or any(answer.get(k) != v for k, v in g.ok.items()):
                raise DeliveryError(f"SMS gateway refused the message: {response.text[:200]}")


def _fill(template: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    def one(value: Any) -> Any:
        if isinstance(value, str):
            return value.format_map(values)
        if isinstance(value, Mapping):
            return {k: one(v) for k, v in value.items()}
        if isinstance(value, list):
            return [one(v) for v in value]
        return value

    return {k: one(v) for k, v in template.items()}


class AppriseSender:
    """Any apprise URLs: the contact's own (``apprise:``), or mail through one account."""

    def __init__(self, name: str, urls: Callable[[Contact], list[str]]) -> None:
        self._name = name
        self._urls = urls

    async def __call__(self, message: Message, contact: Contact) -> None:
        notifier = apprise.Apprise()
        for url in self._urls(contact):
            if not notifier.add(url):
                raise UndeliverableError(f"{self._name}: apprise cannot use the URL {_redact(url)}")
        # apprise is synchronous (requests, smtplib): keep it off the event loop.
        # Plain text: converted to HTML, apprise would fold the message's lines into one.
        result = await asyncio.to_thread(
            notifier.notify,
            body=message.text,
            title=message.title,
            body_format=apprise.NotifyFormat.TEXT,
        )
        if not result:
            problems = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR")]
            raise DeliveryError(f"{self._name}: {result.status.name}: {'; '.join(problems)[:300]}")


def email_urls(account: EmailAccount) -> Callable[[Contact], list[str]]:
    """The account's URL with the contact's addresses as ``to``."""

    def urls(contact: Contact) -> list[str]:
        sep = "&" if "?" in account.url else "?"
        return [f"{account.url}{sep}to={quote(','.join(contact.email), safe='@,')}"]

    return urls


def contact_apprise_urls(contact: Contact) -> list[str]:
    return list(contact.apprise)


def _redact(url: str) -> str:
    """The scheme only: the rest of an apprise URL may be a password or a bot key."""
    return url.partition("://")[0] + "://…"

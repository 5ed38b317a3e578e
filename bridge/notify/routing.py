"""The routing file (通知路由, ``FIREGRID_NOTIFY_FILE``): who gets what on which channel.

Contacts are keyed by the ids the registry already uses — workers (网格员, 网格长, community
and street staff), micro fire stations (微型消防站), installers — plus one entry for the centre
(指挥中心), so the registry's schema stays as it is; a worker's or station's registered
``phone`` is used when the file gives none. Routes pick channels by recipient role, and
optionally by incident kind, lowest severity and whether escalation reminders (催办) go too.
Any string may name an environment variable as ``${NAME}`` (bot keys, SMTP passwords stay
out of the file); an unset one is an error on load. Example: ``docs/platform-api.md``.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bridge.notify.templates import Lang, Language, MessageTemplate
from gateway.incidents.dispatch import Role, severity_rank
from gateway.rules.outcomes import IncidentKind, Severity
from gateway.yamlfile import load_yaml_model


class Channel(StrEnum):
    """The people channels; each is an outbox channel of its own (own retries, own dead letters)."""

    WECOM = "wecom"  # 企业微信群机器人
    DINGTALK = "dingtalk"  # 钉钉自定义机器人
    SMS = "sms"  # an SMS gateway over HTTP
    EMAIL = "email"  # SMTP, through apprise
    APPRISE = "apprise"  # any other apprise URL (飞书, Telegram, ntfy, …)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DingTalkRobot(_Strict):
    webhook: str  # the robot's full webhook URL, or its access_token
    secret: str | None = None  # 加签 secret (SEC…), when the robot signs


class Contact(_Strict):
    phone: str | None = None  # SMS, and the @mention in WeCom/DingTalk groups
    email: list[str] = []
    wecom: str | None = None  # group bot webhook URL, or its key
    dingtalk: DingTalkRobot | None = None
    apprise: list[str] = []
    language: Language | None = None

    @field_validator("email", "apprise", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("dingtalk", mode="before")
    @classmethod
    def _webhook_only(cls, value: object) -> object:
        return {"webhook": value} if isinstance(value, str) else value

    def has(self, channel: Channel) -> bool:
        """Whether this contact can be reached on ``channel`` (the phone may come later)."""
        return bool(
            {
                Channel.WECOM: self.wecom,
                Channel.DINGTALK: self.dingtalk,
                Channel.SMS: self.phone,
                Channel.EMAIL: self.email,
                Channel.APPRISE: self.apprise,
            }[channel]
        )


class Route(_Strict):
    to: list[Role] = Field(min_length=1)
    channels: list[Channel] = Field(min_length=1)
    kinds: list[IncidentKind] | None = None  # None: every kind
    min_severity: Severity | None = None
    reminders: bool = True  # the escalation reminders (催办) as well as the first dispatch

    def matches(self, role: Role, kind: IncidentKind, severity: Severity, reminder: bool) -> bool:
        return (
            role in self.to
            and (self.kinds is None or kind in self.kinds)
            and (
                self.min_severity is None
                or severity_rank(severity) >= severity_rank(self.min_severity)
            )
            and (self.reminders or not reminder)
        )


class SmsGateway(_Strict):
    """A generic SMS gateway: one request per message. In ``body`` (and ``headers``) the
    placeholders ``{phone}``, ``{text}``, ``{title}``, ``{event_id}``, ``{incident_id}`` are
    filled in; ``ok`` lists fields the answer must carry (e.g. ``{code: 0}``), since many
    gateways answer 200 to a refusal."""

    url: str
    encoding: Literal["json", "form"] = "json"
    headers: dict[str, str] = {}
    body: dict[str, Any] = {"phone": "{phone}", "text": "{text}", "id": "{event_id}"}
    ok: dict[str, Any] = {}


class EmailAccount(_Strict):
    """The sending account as an apprise URL without recipients, e.g.
    ``mailtos://alerts:${SMTP_PASSWORD}@smtp.example.cn?from=firegrid@example.cn``."""

    url: str


class Transports(_Strict):
    wecom_url: str = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"  # for keys given alone
    dingtalk_url: str = "https://oapi.dingtalk.com/robot/send"  # for access tokens given alone
    sms: SmsGateway | None = None
    email: EmailAccount | None = None
    timeout_s: float = Field(default=10.0, gt=0)


class NotifyConfig(_Strict):
    language: Language = "zh"
    timezone: str = "Asia/Shanghai"  # the times a message shows
    templates: dict[Lang, MessageTemplate] = {}  # replace the defaults
    transports: Transports = Transports()
    workers: dict[str, Contact] = {}
    stations: dict[str, Contact] = {}
    installers: dict[str, Contact] = {}
    centre: Contact | None = None
    routes: list[Route] = []

    @model_validator(mode="before")
    @classmethod
    def _environment(cls, data: object) -> object:
        return _substitute(data)

    @model_validator(mode="after")
    def _transports_for_routes(self) -> NotifyConfig:
        if Channel.SMS in self.channels() and self.transports.sms is None:
            raise ValueError("a route uses sms: transports.sms (the gateway's URL) is missing")
        if Channel.EMAIL in self.channels() and self.transports.email is None:
            raise ValueError("a route uses email: transports.email (the account) is missing")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def channels(self) -> set[Channel]:
        """The channels some route uses: exactly the ones that get an outbox channel."""
        return {c for route in self.routes for c in route.channels}

    def wants(
        self, channel: Channel, role: Role, kind: IncidentKind, severity: Severity, reminder: bool
    ) -> bool:
        return any(
            channel in r.channels and r.matches(role, kind, severity, reminder) for r in self.routes
        )

    def contact(self, role: Role, recipient_id: str) -> Contact | None:
        if role is Role.CENTRE:
            return self.centre
        if role is Role.STATION:
            return self.stations.get(recipient_id)
        if role is Role.INSTALLER:
            return self.installers.get(recipient_id)
        return self.workers.get(recipient_id)  # leaders, community and street staff are workers


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _substitute(value: object) -> object:
    if isinstance(value, str):
        return _VARIABLE.sub(_lookup, value)
    if isinstance(value, dict):
        return {k: _substitute(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v) for v in value]
    return value


def _lookup(match: re.Match[str]) -> str:
    name = match.group(1)
    found = os.environ.get(name)
    if found is None:
        raise ValueError(f"environment variable {name} is not set (named as ${{{name}}})")
    return found


def load_notify_config(path: Path) -> NotifyConfig:
    """Read and check the routing file; ConfigFileError names file, line and key."""
    return load_yaml_model(path, NotifyConfig)

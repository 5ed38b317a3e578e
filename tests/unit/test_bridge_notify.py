"""People channels over real local servers standing in for WeCom, DingTalk, an SMS gateway and
SMTP: routing per role, Chinese templates, a working acknowledgement link, retries, reminders.

The fake world (test_incident_world): a fire at smoke-1 is dispatched to grid worker w-0301
and micro fire station ST-NEAR; unaccepted, it escalates to grid leader l-0301 after 60 s.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.notify.channel import SUBSCRIBES, AckLinks, NotifyChannel
from bridge.notify.routing import Channel, NotifyConfig, load_notify_config
from bridge.notify.senders import (
    AppriseSender,
    DingTalk,
    HttpSms,
    Sender,
    WeComBot,
    email_urls,
)
from gateway.api.ack import AckSigner
from gateway.incidents import DEFAULT_CHANNELS, Role
from gateway.yamlfile import ConfigFileError
from tests.unit.test_bridge_support import MailServer, Received, Receiver
from tests.unit.test_incident_world import World, low_battery, open_world, smoke

PHONES = {"w-0301": "13800000301", "l-0301": "13800000101", "ST-NEAR": "02163210000"}
ACK_KEY = "ack-key"


def phones(role: Role, recipient_id: str) -> str | None:
    return PHONES.get(recipient_id)


@dataclass
class People:
    world: World
    receiver: Receiver
    client: httpx.AsyncClient
    config: NotifyConfig

    def channel(self, kind: Channel, sender: Sender) -> NotifyChannel:
        signer = AckSigner(ACK_KEY, self.world.clock)
        links = AckLinks(signer, lambda: "https://firegrid.example.cn/", ttl_s=3600)
        return NotifyChannel(
            self.world.store,
            kind,
            self.config,
            sender,
            links,
            phones,
            clock=self.world.clock,
            backoff=lambda n: 5.0,
            max_attempts=3,
        )

    def texts(self) -> list[str]:
        return [r.json()["text"]["content"] for r in self.receiver.accepted]


@asynccontextmanager
async def people(tmp_path: Path, routing: Mapping[str, Any]) -> AsyncIterator[People]:
    """The fake world with the people channels of ``routing``, and one local receiver."""
    receiver = await Receiver().start()
    base = {"transports": {"sms": {"url": receiver.url + "/sms"}}}
    config = NotifyConfig.model_validate(base | dict(routing))
    channels = {**DEFAULT_CHANNELS, **{c.value: SUBSCRIBES for c in config.channels()}}
    try:
        async with (
            open_world(tmp_path, channels=channels) as world,
            httpx.AsyncClient(timeout=5) as client,
        ):
            yield People(world, receiver, client, config)
    finally:
        await receiver.stop()


WORKERS_ON_WECOM = {
    "workers": {"w-0301": {"wecom": "placeholder"}, "l-0301": {"wecom": "placeholder"}},
    "routes": [{"to": ["worker", "leader"], "channels": ["wecom"]}],
}


def on_receiver(p: People, routing: Mapping[str, Any]) -> Mapping[str, Any]:
    """``routing`` with every ``placeholder`` bot pointed at the local receiver."""
    workers = {
        worker: {"wecom": f"{p.receiver.url}/cgi-bin/webhook/send?key=bot-{worker}"}
        for worker in routing["workers"]
    }
    return {**routing, "workers": workers}


async def test_a_fire_reaches_the_worker_on_wecom_in_chinese_with_a_working_ack_link(
    tmp_path: Path,
) -> None:
    async with people(tmp_path, WORKERS_ON_WECOM) as p:
        p.config = NotifyConfig.model_validate(on_receiver(p, WORKERS_ON_WECOM))
        (fire, _) = await p.world.service.apply([smoke()])
        wecom = p.channel(Channel.WECOM, WeComBot(p.client, "unused"))

        assert await wecom.run_once() == 2  # the worker's message, and the station's: not routed

        [sent] = p.receiver.accepted
        assert (sent.path, sent.query) == ("/cgi-bin/webhook/send", {"key": "bot-w-0301"})
        assert sent.json()["msgtype"] == "text"
        assert sent.json()["text"]["mentioned_mobile_list"] == ["13800000301"]  # the registry's
        text = sent.json()["text"]["content"]
        assert text.startswith("【火警·紧急】Smoke at smoke-1\n地点：1 Shiji Ave B1 3层\n")
        assert f"事件编号：{fire.incident.id}" in text and "发生时间：2026-03-02 10:00" in text
        link = text.rsplit("：", 1)[1]
        assert link.startswith("https://firegrid.example.cn/api/v1/ack/")
        claim = AckSigner(ACK_KEY, p.world.clock).verify(link.rsplit("/", 1)[1])
        assert (claim.incident_id, claim.role, claim.actor) == (
            fire.incident.id,
            "worker",
            "w-0301",
        )
        assert claim.expires_at == int(p.world.clock.now + 3600)
        assert "（03-02 11:00前有效）" in text


async def test_a_rate_limited_bot_is_retried_with_the_same_text(tmp_path: Path) -> None:
    async with people(tmp_path, WORKERS_ON_WECOM) as p:
        p.config = NotifyConfig.model_validate(on_receiver(p, WORKERS_ON_WECOM))
        await p.world.service.apply([smoke()])
        # WeCom answers 200 to a refusal: only errcode 0 is delivery.
        p.receiver.answer = lambda r: (200, {"errcode": 45009, "errmsg": "api freq out of limit"})
        wecom = p.channel(Channel.WECOM, WeComBot(p.client, "unused"))

        assert await wecom.run_once() == 0  # the station's row waits behind it: one incident
        assert wecom.failures == 1
        p.receiver.answer = lambda r: (200, {"errcode": 0, "errmsg": "ok"})
        p.world.clock.advance(5)
        assert await wecom.run_once() == 2

        first, second = p.receiver.requests
        assert first.body == second.body


async def test_dingtalk_robots_are_signed_and_mention_the_phone(tmp_path: Path) -> None:
    routing = {
        "stations": {"ST-NEAR": {"dingtalk": {"webhook": "TOKEN1", "secret": "SECabc"}}},
        "routes": [{"to": ["station"], "channels": ["dingtalk"]}],
    }
    async with people(tmp_path, routing) as p:
        p.config = p.config.model_copy(
            update={
                "transports": p.config.transports.model_copy(
                    update={"dingtalk_url": p.receiver.url + "/robot/send"}
                )
            }
        )
        await p.world.service.apply([smoke()])
        dingtalk = p.channel(
            Channel.DINGTALK,
            DingTalk(p.client, p.config.transports.dingtalk_url, wall=lambda: 1_700_000_000.123),
        )

        assert await dingtalk.run_once() == 2

        [sent] = p.receiver.accepted
        assert sent.path == "/robot/send"
        mac = hmac.new(b"SECabc", b"1700000000123\nSECabc", hashlib.sha256).digest()
        assert sent.query == {
            "access_token": "TOKEN1",
            "timestamp": "1700000000123",
            "sign": base64.b64encode(mac).decode(),
        }
        assert sent.json()["at"] == {"atMobiles": ["02163210000"], "isAtAll": False}
        assert "距离：约 500 米" in sent.json()["text"]["content"]


async def test_an_sms_gateway_gets_its_own_request_shape_and_a_refusal_is_retried(
    tmp_path: Path,
) -> None:
    routing = {
        "transports": {
            "sms": {
                "url": "placeholder",
                "encoding": "form",
                "headers": {"X-Api-Key": "k-123"},
                "body": {"mobile": "{phone}", "content": "{text}", "outId": "{event_id}"},
                "ok": {"code": 0},
            }
        },
        "routes": [{"to": ["worker", "station"], "channels": ["sms"], "min_severity": "major"}],
    }
    async with people(tmp_path, routing) as p:
        sms = p.config.transports.sms
        assert sms is not None
        gateway = sms.model_copy(update={"url": p.receiver.url + "/send"})
        await p.world.service.apply([smoke(), low_battery("smoke-2")])  # minor: not by SMS
        p.receiver.answer = lambda r: (200, {"code": 7, "msg": "余额不足"})
        channel = p.channel(Channel.SMS, HttpSms(p.client, gateway))
        await channel.run_once()
        assert len(p.receiver.requests) == 1 and channel.failures == 1  # held: one incident
        p.receiver.answer = lambda r: (200, {"code": 0})
        p.world.clock.advance(5)
        while await channel.run_once():
            pass

        forms = [_form(r) for r in p.receiver.requests[1:]]
        assert sorted(f["mobile"] for f in forms) == ["02163210000", "13800000301"]
        assert all(r.headers["X-Api-Key"] == "k-123" for r in p.receiver.requests)
        assert _form(p.receiver.requests[0]) == forms[0]  # the retry: the same message
        worker = next(f for f in forms if f["mobile"] == "13800000301")
        assert worker["content"].startswith(
            "【火警】1 Shiji Ave B1 3层 Smoke at smoke-1，请尽快处置。接单：https://"
        )
        assert len(worker["outId"]) == 36  # the row's event_id: gateways that dedupe can
        assert await p.world.pending("sms") == []


async def test_email_goes_through_apprise_to_a_real_smtp_server(tmp_path: Path) -> None:
    mail = await MailServer().start()
    routing = {
        "transports": {
            "email": {
                "url": f"mailto://127.0.0.1:{mail.port}?from=firegrid@example.cn&mode=insecure"
            }
        },
        "language": "zh+en",
        "centre": {"email": ["duty@example.cn", "chief@example.cn"]},
        "routes": [{"to": ["centre"], "channels": ["email"]}],
    }
    try:
        async with people(tmp_path, routing) as p:
            await p.world.service.apply([smoke()])
            await _escalate_to_the_centre(p.world)
            email = p.config.transports.email
            assert email is not None
            channel = p.channel(Channel.EMAIL, AppriseSender("email", email_urls(email)))
            while await channel.run_once():
                pass
            assert channel.failures == 0
    finally:
        await mail.stop()

    assert sorted(r for m in mail.mails for r in m.rcpt_tos) == [
        "chief@example.cn",
        "duty@example.cn",
    ]
    parsed = message_from_bytes(mail.mails[0].original_content or b"")
    subject = str(make_header(decode_header(parsed["Subject"])))
    assert subject == "【火警·紧急】Smoke at smoke-1"
    body = parsed.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "已逐级上报至：指挥中心（超时未处置）" in body
    assert "Escalated to: centre (time limit missed)" in body  # zh+en: both, Chinese first
    assert body.index("地点") < body.index("Where:")


async def test_escalation_reminders_go_out_on_the_same_channels(tmp_path: Path) -> None:
    async with people(tmp_path, WORKERS_ON_WECOM) as p:
        p.config = NotifyConfig.model_validate(on_receiver(p, WORKERS_ON_WECOM))
        await p.world.service.apply([smoke()])
        for _ in range(18):  # 90 s: escalated to the leader at 60 s, reminded at 90 s
            p.world.clock.advance(5)
            await p.world.service.tick()
        wecom = p.channel(Channel.WECOM, WeComBot(p.client, "unused"))
        while await wecom.run_once():
            pass

        leader = [r for r in p.receiver.accepted if r.query["key"] == "bot-l-0301"]
        texts = [r.json()["text"]["content"] for r in leader]
        assert len(texts) == 2
        assert "已逐级上报至：网格长（超时未处置）" in texts[0]
        assert texts[1].startswith("【催办·第1次】【火警·紧急】")


async def test_routes_pick_by_kind_and_reminders_and_a_missing_contact_is_dead_lettered(
    tmp_path: Path,
) -> None:
    routing = {
        "workers": {"l-0301": {"wecom": "placeholder"}},
        "routes": [
            {"to": ["leader"], "channels": ["wecom"], "reminders": False},
            {"to": ["worker"], "channels": ["wecom"], "kinds": ["fire"]},
        ],
    }
    async with people(tmp_path, routing) as p:
        p.config = NotifyConfig.model_validate(on_receiver(p, routing))
        await p.world.service.apply([smoke(), low_battery("smoke-2")])
        for _ in range(18):
            p.world.clock.advance(5)
            await p.world.service.tick()
        wecom = p.channel(Channel.WECOM, WeComBot(p.client, "unused"))
        while await wecom.run_once():
            pass

        # The leader: the escalation, not the reminder. The worker: the fire, but it has no
        # WeCom contact — dead-lettered at once, saying why. The low battery: not routed.
        assert [r.query["key"] for r in p.receiver.accepted] == ["bot-l-0301"]
        [dead] = await p.world.store.dead_letters("wecom")
        assert dead.row.recipient is not None and dead.row.recipient.id == "w-0301"
        assert dead.last_error == "no wecom contact for worker w-0301 in the routing file"
        assert dead.row.attempts == 1
        assert await p.world.pending("wecom") == []


def test_the_routing_file_reads_secrets_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "notify.yaml"
    path.write_text(
        "# 通知路由\n"
        "language: zh\n"
        "transports:\n"
        "  email: {url: 'mailtos://alerts:${SMTP_PASSWORD}@smtp.example.cn'}\n"
        "workers:\n"
        "  w-001: {wecom: '${BOT_W001}', email: zhang@example.cn}\n"
        "stations:\n"
        "  ms-near: {dingtalk: 'https://oapi.dingtalk.com/robot/send?access_token=x'}\n"
        "routes:\n"
        "  - {to: [worker, leader], channels: [wecom, email]}\n"
        "  - {to: [station], channels: [dingtalk], kinds: [fire, electrical_hazard]}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SMTP_PASSWORD", "pw")
    monkeypatch.setenv("BOT_W001", "key-1")
    config = load_notify_config(path)
    assert config.channels() == {Channel.WECOM, Channel.EMAIL, Channel.DINGTALK}
    assert config.workers["w-001"].wecom == "key-1"
    assert config.workers["w-001"].email == ["zhang@example.cn"]
    assert config.transports.email is not None and ":pw@" in config.transports.email.url

    monkeypatch.delenv("BOT_W001")
    with pytest.raises(ConfigFileError, match=r"BOT_W001 is not set"):
        load_notify_config(path)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("routes: [{to: [worker], channels: [sms]}]\n", "transports.sms"),
        ("routes: [{to: [chief], channels: [wecom]}]\n", r"notify.yaml:1: routes.0.to.0"),
        ("templates: {zh: {title: '{where}', body: '', sms: ''}}\n", "unknown placeholder 'where'"),
        ("timezone: Mars/Olympus\n", "unknown time zone"),
    ],
)
def test_a_broken_routing_file_is_refused_naming_where(
    tmp_path: Path, text: str, error: str
) -> None:
    path = tmp_path / "notify.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigFileError, match=error):
        load_notify_config(path)


async def _escalate_to_the_centre(world: World) -> None:
    for _ in range(48):  # 240 s: worker → leader → community → street → centre
        world.clock.advance(5)
        await world.service.tick()


def _form(request: Received) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(request.body.decode()))

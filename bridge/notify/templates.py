"""Message templates: a dispatch (分拨派遣) or reminder (催办) as text for a person, 中文 first.

A template is three ``str.format`` strings — ``title`` (mail subject), ``body`` (chat and
mail) and ``sms`` (short) — over the fields of :func:`fields_of`. The defaults below can be
replaced per language in the routing file (``templates: {zh: {...}}``); a placeholder that
does not exist is refused when the file is loaded, not when a fire is reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, model_validator

Lang = Literal["zh", "en"]
Language = Literal["zh", "en", "zh+en"]
_LANGS: dict[Language, tuple[Lang, ...]] = {"zh": ("zh",), "en": ("en",), "zh+en": ("zh", "en")}

_KIND = {
    "zh": {
        "fire": "火警",
        "electrical_hazard": "电气火灾隐患",
        "water_supply": "消防供水异常",
        "device_fault": "设备故障",
        "low_battery": "电量低",
        "tamper": "设备被拆",
        "offline": "设备离线",
        "patrol_overdue": "巡查超时",
        "patrol_hazard": "巡查发现隐患",
        "suspicious_scan": "可疑巡查打卡",
        "grid_outage": "网格大面积离线",
    },
    "en": {},  # the kind's own name reads well enough in English
}
_SEVERITY = {
    "zh": {"critical": "紧急", "major": "重要", "minor": "一般", "warning": "提示"},
    "en": {},
}
_ROLE_ZH = {
    "worker": "网格员",
    "leader": "网格长",
    "community": "社区",
    "street": "街道",
    "centre": "指挥中心",
    "station": "微型消防站",
    "installer": "安装人员",
}


class MessageTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    body: str
    sms: str

    @model_validator(mode="after")
    def _placeholders_exist(self) -> MessageTemplate:
        sample = dict.fromkeys(FIELDS, "")
        for text in (self.title, self.body, self.sms):
            try:
                text.format_map(sample)
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"{text!r}: unknown placeholder {exc}; use {FIELDS}") from None
        return self


FIELDS = (
    "tag",  # 【催办·第2次】, 【测试】 or empty
    "kind",
    "severity",
    "title",
    "place",  # address, building, floor
    "grid",
    "device_id",
    "opened_at",  # local time
    "extra",  # distance to a station, the rung it was escalated to: whole lines, or empty
    "incident_id",
    "event_id",
    "link",  # the acknowledgement link
    "expires",  # when the link stops working, local time
)

DEFAULTS: dict[Lang, MessageTemplate] = {
    "zh": MessageTemplate(
        title="{tag}【{kind}·{severity}】{title}",
        body=(
            "{tag}【{kind}·{severity}】{title}\n地点：{place}\n网格：{grid}　设备：{device_id}\n"
            "发生时间：{opened_at}\n{extra}事件编号：{incident_id}\n"
            "请尽快处置。点击确认接单（{expires}前有效）：{link}"
        ),
        sms="{tag}【{kind}】{place} {title}，请尽快处置。接单：{link}",
    ),
    "en": MessageTemplate(
        title="{tag}[{kind}/{severity}] {title}",
        body=(
            "{tag}[{kind}/{severity}] {title}\nWhere: {place}\nGrid: {grid}  Device: {device_id}\n"
            "Since: {opened_at}\n{extra}Incident: {incident_id}\n"
            "Please respond. Accept (valid until {expires}): {link}"
        ),
        sms="{tag}[{kind}] {place} {title}. Accept: {link}",
    ),
}


@dataclass(frozen=True, slots=True)
class Rendered:
    title: str
    text: str
    sms: str


def fields_of(
    payload: Mapping[str, Any], language: Lang, link: str, expires_at: float, zone: ZoneInfo
) -> dict[str, str]:
    """The template fields of one dispatch payload (``gateway.incidents.views``)."""
    zh = language == "zh"
    loc = payload.get("location") or {}
    floor = str(loc.get("floor") or "")
    floor = f"{floor}层" if zh and floor else (f"floor {floor}" if floor else "")
    place = " ".join(str(p) for p in (loc.get("address"), loc.get("building"), floor) if p)
    kind, severity = str(payload["kind"]), str(payload["severity"])
    return {
        "tag": _tag(payload, zh),
        "kind": _KIND[language].get(kind, kind),
        "severity": _SEVERITY[language].get(severity, severity),
        "title": str(payload.get("title", "")),
        "place": place or str(payload.get("device_id", "")),
        "grid": str(payload.get("grid", "")),
        "device_id": str(payload.get("device_id", "")),
        "opened_at": _local(str(payload.get("opened_at", "")), zone),
        "extra": _extra(payload, zh),
        "incident_id": str(payload["incident_id"]),
        "event_id": str(payload.get("event_id", "")),
        "link": link,
        "expires": datetime.fromtimestamp(expires_at, zone).strftime("%m-%d %H:%M"),
    }


def render(
    payload: Mapping[str, Any],
    language: Language,
    link: str,
    expires_at: float,
    zone: ZoneInfo,
    templates: Mapping[Lang, MessageTemplate] = DEFAULTS,
) -> Rendered:
    """``zh+en`` puts both in chat and mail (Chinese first), Chinese alone in an SMS."""
    parts = []
    for lang in _LANGS[language]:
        template = templates.get(lang, DEFAULTS[lang])
        values = fields_of(payload, lang, link, expires_at, zone)
        parts.append(
            Rendered(
                template.title.format_map(values),
                template.body.format_map(values),
                template.sms.format_map(values),
            )
        )
    first = parts[0]
    return Rendered(first.title, "\n\n".join(p.text for p in parts), first.sms)


def _tag(payload: Mapping[str, Any], zh: bool) -> str:
    if payload.get("reminder"):
        n = payload["reminder"]
        return f"【催办·第{n}次】" if zh else f"[Reminder #{n}] "
    if payload.get("test"):
        return "【测试】" if zh else "[TEST] "
    return ""


def _extra(payload: Mapping[str, Any], zh: bool) -> str:
    lines = []
    distance = payload.get("distance_m")
    if distance is not None:
        far = payload.get("within_radius") is False
        if zh:
            lines.append(f"距离：约 {round(distance)} 米" + ("（超出出警半径）" if far else ""))
        else:
            lines.append(
                f"Distance: about {round(distance)} m" + (" (beyond radius)" if far else "")
            )
    level = payload.get("escalation_level") or 0
    if level:
        role = str(payload.get("role", ""))
        lines.append(
            f"已逐级上报至：{_ROLE_ZH.get(role, role)}（超时未处置）"
            if zh
            else f"Escalated to: {role} (time limit missed)"
        )
    return "".join(line + "\n" for line in lines)


def _local(rfc3339: str, zone: ZoneInfo) -> str:
    try:
        moment = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    except ValueError:
        return rfc3339
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

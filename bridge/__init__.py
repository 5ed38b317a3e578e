"""Outbound integrations: the outbox drained to MQTT, the grid platform and people's phones.

Depends on ``gateway``'s domain types, never the other way round; wired at the composition root
(``gateway.app`` through :class:`bridge.wiring.Bridge`). Modules: ``mqtt_dispatch`` (the shared
:class:`~bridge.mqtt_dispatch.OutboxDelivery` loop and the MQTT channel), ``platform`` (事件上报
to the grid-governance platform), ``notify`` (WeCom, DingTalk, SMS, email: routing, templates,
senders), ``retry`` (backoff), ``health`` (``/metrics``), ``wiring``.
"""

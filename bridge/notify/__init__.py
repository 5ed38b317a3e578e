"""Channels to people (网格员, 网格长, 微型消防站, 指挥中心): dispatches and reminders (催办).

``routing`` (the routing file: who gets what on which channel), ``templates`` (中文 first),
``senders`` (WeCom, DingTalk, SMS over HTTP, apprise for email and the rest), ``channel`` (one
outbox channel each, with the acknowledgement link in every message).
"""

"""Outbound integrations (grid-platform connector, notification channels, MQTT dispatch).

Depends on ``gateway``'s domain types, never the other way round; wired at the composition root.
"""

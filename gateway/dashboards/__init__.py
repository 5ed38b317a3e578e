"""Grafana dashboards as code (grafana-foundation-sdk) over InfluxQL, and the points they read.

``render`` builds the six dashboards committed in ``dashboards/``; ``points`` turns incident
transitions and device positions into the points the dashboards need beyond readings.
"""

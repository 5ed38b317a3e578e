"""What Grafana does to an InfluxQL panel query before InfluxDB sees it, and tests of that.

The dashboard query tests run the committed queries against a real InfluxDB, so they need
them as Grafana would send them:

- template variables (frontend, ``templateSrv`` + the InfluxDB datasource's
  ``interpolateQueryExpr``): a multi-value or include-all variable is regex-escaped, one
  value alone, several as ``(a|b)``; "All" with a custom all-value is that value, unescaped;
- ``$timeFilter`` (backend ``pkg/tsdb/influxdb/models/query.go``):
  ``time >= <from>ms and time <= <to>ms``;
- ``$__interval`` (frontend ``rangeutil.calculateInterval``: the range over the panel's max
  data points, rounded by ``roundInterval``, never below the datasource's ``timeInterval``),
  written by the backend with ``gtime.FormatInterval`` (whole units: ``1m``, ``15s``…), and
  ``$__interval_ms``; replaced in the order the backend does (``$timeFilter``, ``$interval``,
  ``$__interval_ms``, ``$__interval``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pytest

# rangeutil.roundInterval: (below this many ms, round to this many ms).
_ROUNDING = (
    (10, 1),
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1500, 1000),
    (3500, 2000),
    (7500, 5000),
    (12500, 10000),
    (17500, 15000),
    (25000, 20000),
    (45000, 30000),
    (90000, 60000),
    (210000, 120000),
    (450000, 300000),
    (750000, 600000),
    (1050000, 900000),
    (1500000, 1200000),
    (2700000, 1800000),
    (5400000, 3600000),
    (9000000, 7200000),
    (16200000, 10800000),
    (32400000, 21600000),
    (86400000, 43200000),
    (604800000, 86400000),
    (1814400000, 604800000),
    (3628800000, 2592000000),
)
_YEAR_MS = 31536000000
_UNITS_MS = (("y", _YEAR_MS), ("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000))
_REGEX_SPECIAL = re.compile(r"([\\^$*+?.()|\[\]{}/])")
_VARIABLE = re.compile(r"\$(\w+)")


def round_interval(ms: float) -> int:
    return next((to for below, to in _ROUNDING if ms < below), _YEAR_MS)


def interval_ms(range_ms: int, max_data_points: int, min_interval_ms: int) -> int:
    return max(round_interval(range_ms / max_data_points), min_interval_ms)


def format_interval(ms: int) -> str:
    """gtime.FormatInterval: the largest unit that fits, whole."""
    for unit, size in _UNITS_MS:
        if ms >= size:
            return f"{ms // size}{unit}"
    return f"{max(ms, 1)}ms"


def variable_value(values: Sequence[str] | None, all_value: str = ".*") -> str:
    """A multi/include-all variable in an InfluxQL regex; ``None`` is "All"."""
    if values is None:
        return all_value
    escaped = [_REGEX_SPECIAL.sub(r"\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def interpolate(
    query: str,
    variables: Mapping[str, Sequence[str] | None],
    start_ms: int,
    end_ms: int,
    step_ms: int,
) -> str:
    """The query InfluxDB receives; a ``$name`` that is neither a variable nor a macro is left."""
    known = {name: variable_value(values) for name, values in variables.items()}
    text = _VARIABLE.sub(lambda m: known.get(m.group(1), m.group(0)), query)
    text = text.replace("$timeFilter", f"time >= {start_ms}ms and time <= {end_ms}ms")
    text = text.replace("$interval", format_interval(step_ms))
    text = text.replace("$__interval_ms", str(step_ms))
    return text.replace("$__interval", format_interval(step_ms))


def test_the_interval_is_the_range_over_the_points_rounded_and_never_below_the_minimum() -> None:
    six_hours = 6 * 3600 * 1000
    assert interval_ms(six_hours, 1000, 15000) == 20000  # 21.6 s rounds to 20 s
    assert interval_ms(3600 * 1000, 1000, 15000) == 15000  # 3.6 s, raised to the minimum
    assert interval_ms(7 * 86400 * 1000, 1000, 15000) == 600000  # 604.8 s → 10 m
    assert [format_interval(ms) for ms in (20000, 600000, 90000, 500, 86400000)] == [
        "20s",
        "10m",
        "1m",
        "500ms",
        "1d",
    ]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (None, ".*"),
        (["G-0301"], "G-0301"),
        (["G-0301", "G-0302"], "(G-0301|G-0302)"),
        (["3/F (east)"], r"3\/F \(east\)"),
    ],
)
def test_variables_become_regex_fragments_as_grafana_writes_them(
    values: list[str] | None, expected: str
) -> None:
    assert variable_value(values) == expected


def test_a_panel_query_is_filled_in_the_order_grafana_fills_it() -> None:
    query = (
        'SELECT mean("x") FROM "m" WHERE $timeFilter AND "grid" =~ /^$grid$/ '
        'AND "street" =~ /^$street$/ GROUP BY time($__interval) -- $__interval_ms $unknown'
    )
    sent = interpolate(query, {"grid": ["G-0301"], "street": None}, 1000, 2000, 20000)
    assert sent == (
        'SELECT mean("x") FROM "m" WHERE time >= 1000ms and time <= 2000ms '
        'AND "grid" =~ /^G-0301$/ AND "street" =~ /^.*$/ GROUP BY time(20s) -- 20000 $unknown'
    )

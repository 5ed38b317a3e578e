"""The compiled field checks (the decode hot path) agree with the full check on any value."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.codecs.base import Problem, check_field, field_check
from gateway.model import FieldValue
from gateway.profiles import FieldSpec

SPECS = [
    FieldSpec(type="bool"),
    FieldSpec(type="float", min=0, max=100),
    FieldSpec(type="float"),
    FieldSpec(type="int", min=-5, max=5),
    FieldSpec(type="int"),
    FieldSpec(type="str"),
    FieldSpec(type="str", enum=("ok", "hazard")),
    FieldSpec(type="float", channels=4, min=-40, max=200),
]

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["ok", "hazard", "maybe", ""]),
    st.text(max_size=5),
    st.lists(st.one_of(st.none(), st.floats(-100, 300), st.integers(-100, 300)), max_size=6),
)


def _full(spec: FieldSpec, value: Any) -> tuple[dict[str, FieldValue], list[Problem]]:
    out: dict[str, FieldValue] = {}
    problems: list[Problem] = []
    check_field("x", spec, value, out, problems)
    return out, problems


def _compiled(spec: FieldSpec, value: Any) -> tuple[dict[str, FieldValue], list[Problem]]:
    out: dict[str, FieldValue] = {}
    problems: list[Problem] = []
    field_check("x", spec)(value, out, problems)
    return out, problems


def _typed(out: dict[str, FieldValue]) -> dict[str, tuple[type, FieldValue]]:
    return {k: (type(v), v) for k, v in out.items()}


@given(spec=st.sampled_from(SPECS), value=VALUES)
def test_a_compiled_check_keeps_and_refuses_exactly_what_the_full_check_does(
    spec: FieldSpec, value: Any
) -> None:
    try:
        expected = _full(spec, value)
    except OverflowError:
        return  # a float field given an int beyond float range: the full check's own edge
    out, problems = _compiled(spec, value)
    assert _typed(out) == _typed(expected[0])
    assert problems == expected[1]


def test_an_int_field_keeps_a_large_whole_number_exactly_on_both_paths() -> None:
    """2**53 + 1 has no double of its own: the full check (compiled) once rounded it to 2**53
    by returning it as a float (found by the property above)."""
    big = 2**53 + 1
    for check in (_full, _compiled):
        out, problems = check(FieldSpec(type="int"), big)
        assert _typed(out) == {"x": (int, big)} and problems == []

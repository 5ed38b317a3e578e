"""A save's keys come in sorted runs: most of a full sort's gain, never a long hold."""

from __future__ import annotations

import random

from gateway.keyorder import in_key_runs


def test_keys_come_in_sorted_runs_of_at_most_the_run_size() -> None:
    keys = [f"SD-{n:06d}" for n in range(1000)]
    random.Random(3).shuffle(keys)
    runs = list(in_key_runs(keys, run=300))
    assert [len(r) for r in runs] == [300, 300, 300, 100]
    assert all(r == sorted(r) for r in runs)
    assert sorted(k for r in runs for k in r) == sorted(keys)  # each key once
    assert [set(r) for r in runs] == [set(keys[i : i + 300]) for i in range(0, 1000, 300)]
    assert list(in_key_runs([])) == []

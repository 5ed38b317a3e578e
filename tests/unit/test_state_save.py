"""The gateway's liveness save: every changed device written once, in sorted runs (see
``gateway.keyorder``), and a save that fails leaves what it had not finished for the next."""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.config import Settings
from gateway.keyorder import SORTED_RUN
from gateway.rules.runtime import KEYS_PER_STEP
from gateway.tracker import DeviceState

T = 1767225600.0


async def test_a_liveness_save_writes_sorted_runs_and_keeps_what_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Gateway(Settings(data_dir=tmp_path / "data", api_port=0)) as gateway:
        ids = [f"SD-{n:06d}" for n in range(2 * SORTED_RUN + 100)]
        random.Random(5).shuffle(ids)
        for device_id in ids:
            gateway.tracker.seen(device_id, T)
        written: list[list[str]] = []
        fail_at: list[int] = []

        async def save_states(items: Iterable[tuple[str, DeviceState]]) -> None:
            if len(written) in fail_at:
                raise OSError("disk full")
            written.append([device_id for device_id, _ in items])

        monkeypatch.setattr(gateway.registry, "save_states", save_states)
        await gateway._save_states()
        flat = [device_id for step in written for device_id in step]
        assert sorted(flat) == sorted(ids)  # each once
        runs = [flat[i : i + SORTED_RUN] for i in range(0, len(flat), SORTED_RUN)]
        assert [len(r) for r in runs] == [SORTED_RUN, SORTED_RUN, 100]
        assert all(run == sorted(run) for run in runs)
        assert gateway.tracker.take_changed() == []

        for device_id in ids:
            gateway.tracker.seen(device_id, T + 1)
        written.clear()
        steps_per_run = -(-SORTED_RUN // KEYS_PER_STEP)
        fail_at.append(steps_per_run + 2)  # the third step of the second run
        with pytest.raises(OSError, match="disk full"):
            await gateway._save_states()
        fail_at.clear()  # the save at shutdown
        flat = [device_id for step in written for device_id in step]
        assert len(flat) == SORTED_RUN + 2 * KEYS_PER_STEP  # the first run, two steps more
        first_run = set(flat[:SORTED_RUN])
        # The second run is taken back whole (two of its steps are saved twice, harmlessly),
        # the finished first run is not.
        assert set(gateway.tracker.take_changed()) == set(ids) - first_run

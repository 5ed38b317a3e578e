"""The pipeline benchmark in its smoke size: it runs, its report is well-formed, and every
point it sent — through firegrid and through the Node-RED peer — was counted back in InfluxDB.

The benchmark is a standalone program (its own servers, processes and event loops), so it runs
here as a subprocess exactly as a person runs it. No timing is asserted: numbers on a shared
CI machine say nothing; the full run's numbers live in benchmarks/RESULTS.md.

Node-RED is installed by the benchmark itself (``npm ci`` from the pinned lock file into
benchmarks/.node-red/, about 15 s once, then reused), so the peer is exercised in CI too
rather than skipped when it happens to be missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.pipeline.report import text
from gateway import compiled

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_the_smoke_benchmark_counts_every_point_back_for_firegrid_and_node_red(
    tmp_path: Path,
) -> None:
    report_path = tmp_path / "report.json"
    results_md = tmp_path / "RESULTS.md"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.pipeline",
            "--smoke",
            "--json",
            str(report_path),
            "--results-md",
            str(results_md),
            "--keep",
            str(tmp_path / "work"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(report_path.read_text())

    assert report["all_counted"] is True
    phases = {(c["target"], c["phase"]) for c in report["counts"]}
    assert {
        ("firegrid", "warm-up"),
        ("firegrid", "throughput"),
        ("node-red", "warm-up"),
        ("node-red", "throughput"),
    } <= phases
    for count in report["counts"]:
        assert count["counted"] == count["expected"] > 0, count
        assert sum(count["per_measurement"].values()) == count["counted"]
        assert count["per_measurement"] == count["expected_per_measurement"], count

    for target in ("firegrid", "node_red"):
        measured = report["throughput"][target]
        assert measured["messages"] == report["meta"]["plan"]["throughput_messages"]
        assert measured["cpu_us_per_msg"] > 0 and measured["msgs_per_s"] > 0
        # The split by thread is the same CPU time read per thread: equal up to the kernel's
        # 10 ms ticks, each thread's and the total's rounded on their own (ten ticks' room).
        split = measured["cpu_us_per_msg_split"]
        # 500 messages are a few ms of CPU: below one 10 ms tick, a share can read 0.
        assert min(split.values()) >= 0 and sum(split.values()) > 0
        ticks = 10 * 0.01 / measured["messages"] * 1e6
        assert abs(sum(split.values()) - measured["cpu_us_per_msg"]) <= ticks
    assert report["throughput"]["node_red_over_firegrid_cpu"] > 0

    [latency] = report["latency"]
    assert latency["dispatched"] == latency["alarms"] == report["meta"]["plan"]["alarms"]
    assert 0 < latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"]

    assert report["memory"]["devices"] == report["meta"]["fleet"]["devices"] == 1000
    # The gateway measured is the one installed here: compiled, imported from this tree.
    firegrid = report["meta"]["firegrid"]
    assert firegrid["hot_path"] == compiled.hot_path()  # compiled here: see test_compiled
    assert firegrid["imported_from"] == str(Path(compiled.__file__).with_name("__init__.py"))
    assert report["memory"]["rss_mib"] > 0 and report["startup"]["ready_s"] > 0
    assert {t["name"].split(" (")[0] for t in report["targets"]} >= {
        "gateway CPU per message",
        "CPU vs Node-RED",
        "ready with 1000 devices",
    }
    assert all(isinstance(t["pass"], bool) for t in report["targets"])

    assert "Throughput" in run.stdout and "Alarm latency" in run.stdout
    assert text(report) in run.stdout
    assert results_md.read_text().startswith("# Pipeline benchmark\n")

"""``benchmarks/RESULTS.md``: the machine, the date, the tables, targets against measurements."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.pipeline.report import machine_lines, sections, table

INTRO = """\
# Pipeline benchmark

Measured by `python -m benchmarks.pipeline --full --results-md benchmarks/RESULTS.md` (see
README, Benchmarks). The tables are one full run of the commit named below. Everything ran at
once on the machine below: Mosquitto, InfluxDB 1.x, the publisher, and the gateway (or
Node-RED) share its cores, as they would on a small site server, so msg/s is what this box
reaches end to end, while CPU µs/msg is the gateway process's own CPU time (user + system, all
threads) over the window, divided by the messages. Targets that fail are marked **FAIL**: they
are the work still to do, not hidden. "Earlier commits" lists the same command's key figures
for the trend, the first of them the baseline before any optimisation work.
"""

METHOD = """\
## How it was measured

- **Fleet**: the reference district of DOMAIN.md (1089 grids, their workers and leaders, 76
  micro fire stations) with the reference mix of device kinds, registered over REST the way
  `firegrid simulate` installs one (grid GeoJSON, then devices by CSV import).
- **Messages**: each profile's own `examples:` heartbeat (smoke JSON, Zigbee2MQTT, NB-IoT
  binary frames, electrical-fire, water pressure/level, NFC patrol scans), with the device's
  id, a distinct `ts`/`seq` per message and, for patrol scans, the tag's own position.
  Published QoS 1 by a separate raw-socket publisher process (`mqttpub.py`), pre-encoded.
- **Window**: from the first publish until InfluxDB's shard write counters show every point
  taken; then `SELECT count` per measurement must equal what was sent (table above).
  **CPU probe** (runs from 2026-12-07 on): CPU ms of a fixed 2M-iteration pure-Python loop
  before the run, best of three — the interpreter's speed on this machine.
  **CPU by thread** (runs from 2026-11-24 on): the same window's per-thread times of the
  gateway process (`psutil`), the main thread — the event loop, where every message is
  handled — in user and system mode, and every other thread (SQLite's) together.
- **Warm-up** is each device's first message (device comes online: a `device_status` point,
  new tracker and rule state); **throughput** is the steady state after it.
- **Alarm latency**: a background load at a fixed rate from the other devices; smoke alarms
  (the `smoke-detector` alarm example, on the device's alarm topic `devices/{id}/alarm`, which
  the gateway reads on its alarm session) at 1/s from detectors in distinct grids, so no two share
  a building and correlation cannot merge them; latency from the alarm's publish to the
  dispatch arriving on `grid/workers/{worker_id}/alarms` (subscribed as the workers). p99 is
  nearest-rank over 100 alarms (the second slowest; "max" is the slowest); runs before
  2026-11-23 20:30 sent 30, whose nearest-rank p99 was their slowest. If the gateway cannot
  keep up with the background rate, the backlog grows and latency with it: "gateway took"
  says whether it kept up; a second row at 70 % of the measured throughput shows latency when
  it does.
  "Loop lag" and "GC pauses" are the gateway's own histograms over the phase
  (`firegrid_event_loop_lag_seconds`: how late a 250 ms timer fired; `firegrid_gc_pause_seconds`),
  read from `/metrics` before and after: what an alarm could have waited behind.
- **Memory**: RSS of the `firegrid run` process after every device sent its first message
  (registry, tracker, rule state, sink caches), once the gateway has settled after that burst
  (12 s after the last point is counted: its heap steward freezes what survived and hands free
  memory back every 10 s; runs before 2026-11-23 22:00 measured 1 s after, shown since as
  "1 s after"); per device = RSS ÷ devices, and the marginal figure subtracts the empty
  gateway. **Start-up**: process start to `/healthz` 200 (API up,
  MQTT connected, sink running) on a restart with every device registered.
- **The peer**: Node-RED 4 (`node_red/`), MQTT in (QoS 1) → a function node doing the same
  decode from the same profiles and registry (`decode.js`), batching 5000 points or 1 s as
  firegrid does → `node-red-contrib-influxdb` batch node, own database, own fresh Mosquitto;
  it does only decode and write — no rules, incidents or device state — so the ratio
  flatters Node-RED.
"""


def render(result: dict[str, Any], earlier: list[dict[str, Any]] | None = None) -> str:
    lines = [INTRO, *machine_lines(result), "", "## Results", "", *sections(result), ""]
    if earlier:
        lines += [*comparison([*earlier, result]), ""]
    return "\n".join([*lines, METHOD]) + "\n"


def _key_figures(r: dict[str, Any]) -> dict[str, Any]:
    t, lat, m, s = r["throughput"], r["latency"][0], r["memory"], r["startup"]
    return {
        "throughput, msg/s": t["firegrid"]["msgs_per_s"],
        "gateway CPU µs/msg": t["firegrid"]["cpu_us_per_msg"],
        "Node-RED ÷ firegrid CPU": t.get("node_red_over_firegrid_cpu", ""),
        f"alarm p99 ms at {lat['target_rate']:.0f} msg/s": lat["p99_ms"],
        "gateway took msg/s (latency run)": lat["gateway_rate"],
        "RSS KiB/device": m["rss_per_device_kib"],
        "idle CPU cores (periodic jobs)": m.get("idle_cpu_cores", ""),
        "ready s with all devices": s["ready_s"],
    }


def comparison(runs: list[dict[str, Any]]) -> list[str]:
    """Key figures of several runs of the same command (other commits), oldest first."""
    figures = [_key_figures(r) for r in runs]
    head = ["", *(f"{r['meta']['firegrid']['commit']} ({r['meta']['date'][:16]})" for r in runs)]
    rows = [[name, *(f[name] for f in figures)] for name in figures[0]]
    rows.append(["load average at start", *(r["meta"].get("loadavg_at_start") for r in runs)])
    rows.append(["machine (kernel)", *(r["meta"]["machine"]["kernel"] for r in runs)])
    rows.append(["CPU probe ms", *(r["meta"]["machine"].get("cpu_probe_ms", "") for r in runs)])
    return [
        "## Earlier commits, same command",
        "",
        "Oldest first; the last column is the run above. Runs on a machine that was busy with",
        "other work (see the load average) measure more CPU per message than a quiet one, and",
        "absolute figures only compare on one machine: the CPU probe (a fixed pure-Python loop,",
        "measured from 2026-12-07 on) tells machines apart; the Node-RED ratio compares across.",
        "",
        *table(head, rows),
    ]


def write(path: Path, result: dict[str, Any], earlier: list[dict[str, Any]] | None = None) -> None:
    path.write_text(render(result, earlier))


def main() -> None:
    """``python -m benchmarks.pipeline.results_md [EARLIER.json ...] LATEST.json > RESULTS.md``

    The latest run's tables, and every run's key figures side by side, oldest first."""
    *earlier, latest = (json.loads(Path(p).read_text()) for p in sys.argv[1:])
    sys.stdout.write(render(latest, earlier))


if __name__ == "__main__":
    main()

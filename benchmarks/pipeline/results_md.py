"""``benchmarks/RESULTS.md``: the machine, the date, the tables, targets against measurements."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.pipeline.report import machine_lines, sections

INTRO = """\
# Pipeline benchmark — baseline before optimisation

Measured by `python -m benchmarks.pipeline --full --results-md benchmarks/RESULTS.md`
(see README, Benchmarks). **These are the numbers before any optimisation work (issue 6):
the baseline to improve on, not a claim.** Everything ran at once on the machine below:
Mosquitto, InfluxDB 1.x, the publisher, and the gateway (or Node-RED) share its cores, as
they would on a small site server, so msg/s is what this box reaches end to end, while CPU
µs/msg is the gateway process's own CPU time (user + system, all threads) over the window,
divided by the messages.
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
- **Warm-up** is each device's first message (device comes online: a `device_status` point,
  new tracker and rule state); **throughput** is the steady state after it.
- **Alarm latency**: a background load at a fixed rate from the other devices; smoke alarms
  (the `smoke-detector` alarm example) at 1/s from detectors in distinct grids, so no two share
  a building and correlation cannot merge them; latency from the alarm's publish to the
  dispatch arriving on `grid/workers/{worker_id}/alarms` (subscribed as the workers). p99 is
  nearest-rank: with 30 alarms it is the slowest one. If the gateway cannot keep up with the
  background rate, the backlog grows and latency with it: "gateway took" says whether it
  kept up; a second row at 70 % of the measured throughput shows latency when it does.
- **Memory**: RSS of the `firegrid run` process after every device sent its first message
  (registry, tracker, rule state, sink caches); per device = RSS ÷ devices, and the marginal
  figure subtracts the empty gateway. **Start-up**: process start to `/healthz` 200 (API up,
  MQTT connected, sink running) on a restart with every device registered.
- **The peer**: Node-RED 4 (`node_red/`), MQTT in (QoS 1) → a function node doing the same
  decode from the same profiles and registry (`decode.js`), batching 5000 points or 1 s as
  firegrid does → `node-red-contrib-influxdb` batch node, own database, own fresh Mosquitto;
  it does only decode and write — no rules, incidents or device state — so the ratio
  flatters Node-RED.
"""


def render(result: dict[str, Any]) -> str:
    lines = [INTRO, *machine_lines(result), "", "## Results", "", *sections(result), "", METHOD]
    return "\n".join(lines) + "\n"


def write(path: Path, result: dict[str, Any]) -> None:
    path.write_text(render(result))

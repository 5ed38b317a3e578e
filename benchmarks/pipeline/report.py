"""The report as a readable table (stdout) and as ``benchmarks/RESULTS.md``."""

from __future__ import annotations

from typing import Any


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return [line(cells[0]), rule, *(line(row) for row in cells[1:])]


def _throughput_rows(r: dict[str, Any], phase: str) -> list[list[Any]]:
    rows = []
    for name, label in (("firegrid", "firegrid run"), ("node_red", "Node-RED 4")):
        m = r[phase].get(name)
        if m:
            rows.append(
                [
                    label,
                    m["messages"],
                    m["msgs_per_s"],
                    m["cpu_us_per_msg"],
                    m["cpu_cores_busy"],
                    m.get("machine_cores_busy", ""),
                    m["window_s"],
                ]
            )
    return rows


def sections(r: dict[str, Any]) -> list[str]:
    """Everything but the header: shared by stdout and RESULTS.md."""
    out: list[str] = []
    head = ["", "messages", "msg/s", "CPU µs/msg", "its CPU cores", "machine CPU cores", "window s"]
    out += ["### Throughput (decode → rules → batched write, every point counted back)", ""]
    out += table(head, _throughput_rows(r, "throughput"))
    ratio = r["throughput"].get("node_red_over_firegrid_cpu")
    if ratio is not None:
        out += ["", f"CPU per message, Node-RED ÷ firegrid: **{ratio}×**"]
    split = r["throughput"]["firegrid"].get("cpu_us_per_msg_split")
    if split is not None:
        out += [
            "",
            "firegrid CPU µs per message by thread: event loop "
            f"{split['main_user']} user + {split['main_system']} system, "
            f"other threads (SQLite saves, executor) {split['threads']}",
        ]
    over_idle = r["throughput"]["firegrid"].get("cpu_us_per_msg_over_idle")
    if over_idle is not None:
        out += [
            "",
            f"firegrid CPU per message over its idle load ({r['memory']['idle_cpu_cores']} "
            f"cores of periodic jobs with {r['memory']['devices']} devices, measured before): "
            f"{over_idle} µs",
        ]
    out += ["", "### Warm-up (each device's first message: online status, new rule state)", ""]
    out += table(head, _throughput_rows(r, "warmup"))
    out += ["", "### Alarm latency (smoke alarm published → dispatch on grid/workers/{id}/alarms)"]
    out += [""]
    out += table(
        [
            "background target msg/s",
            "published msg/s",
            "gateway took msg/s",
            "alarms",
            "p50 ms",
            "p99 ms",
            "max ms",
            "loop lag > 50 ms",
            "GC pauses > 50 ms",
        ],
        [
            [
                f"{x['target_rate']:.0f}",
                x["published_rate"],
                x["gateway_rate"],
                f"{x['dispatched']}/{x['alarms']}",
                x["p50_ms"],
                x["p99_ms"],
                x["max_ms"],
                _stalls(x, "firegrid_event_loop_lag_seconds"),
                _stalls(x, "firegrid_gc_pause_seconds"),
            ]
            for x in r["latency"]
        ],
    )
    m, s, g = r["memory"], r["startup"], r["registration"]
    out += ["", "### Memory and start-up", ""]
    rows = [
        ["firegrid RSS, empty (no devices)", f"{m['rss_empty_mib']} MiB"],
        [
            f"firegrid RSS, {m['devices']} devices after their first message (settled)",
            f"{m['rss_mib']} MiB = {m['rss_per_device_kib']} KiB/device "
            f"({m['marginal_per_device_kib']} KiB/device over empty)",
        ],
        *(
            [["… 1 s after the last first message", f"{m['rss_burst_mib']} MiB"]]
            if "rss_burst_mib" in m
            else []
        ),
        [
            f"firegrid CPU while idle with {m['devices']} devices (periodic jobs)",
            f"{m['idle_cpu_cores']} cores",
        ],
        [
            f"firegrid RSS just after a restart with {m['devices']} devices",
            f"{m['rss_after_restart_mib']} MiB",
        ],
        ["firegrid start → /healthz ready, empty", f"{s['empty_ready_s']} s"],
        [f"firegrid start → /healthz ready, {s['devices']} devices", f"{s['ready_s']} s"],
        [f"registering {m['devices']} devices over REST (CSV import)", f"{g['seconds']} s"],
    ]
    if "node_red_rss_mib" in m:
        rows.append(["Node-RED RSS after its run", f"{m['node_red_rss_mib']} MiB"])
        rows.append(["Node-RED start → flow subscribed", f"{s['node_red_ready_s']} s"])
    out += table(["", ""], rows)
    out += ["", "### Every point counted back (SELECT count per measurement)", ""]
    out += table(
        ["target", "phase", "sent", "counted"],
        [[c["target"], c["phase"], c["expected"], c["counted"]] for c in r["counts"]],
    )
    out += ["", "### Targets", ""]
    out += table(
        ["", "target", "measured", ""],
        [
            [t["name"], t["target"], t["measured"], "pass" if t["pass"] else "**FAIL**"]
            for t in r["targets"]
        ],
    )
    p = r.get("profile") or {}
    if p.get("top_self"):
        out += ["", f"### py-spy, throughput load ({p['samples']} samples), top self time", ""]
        out += table(
            ["#", "function", "self %", "total %"],
            [
                [i + 1, row["function"], row["pct"], _total_pct(p, row["function"])]
                for i, row in enumerate(p["top_self"][:15])
            ],
        )
    return out


def _total_pct(profile: dict[str, Any], function: str) -> str:
    for row in profile["top_total"]:
        if row["function"] == function:
            return str(row["pct"])
    return ""


def machine_lines(r: dict[str, Any]) -> list[str]:
    meta = r["meta"]
    mach, v = meta["machine"], meta["versions"]
    nr = v.get("node-red", {})
    return [
        f"- machine: {mach['cpu']}, {mach['cores']} cores, {mach['ram_gib']} GiB RAM, "
        f"Linux {mach['kernel']}"
        + (f"; CPU probe {mach['cpu_probe_ms']} ms" if "cpu_probe_ms" in mach else ""),
        f"- Python {v['python']}, Node {v['node']}, {v['mosquitto']}, {v['influxd']}"
        + (
            f", node-red {nr.get('node-red')}, node-red-contrib-influxdb "
            f"{nr.get('node-red-contrib-influxdb')}"
            if nr
            else ""
        ),
        f"- firegrid {meta['firegrid']['commit']} ({meta['firegrid']['source']}, "
        f"{meta['firegrid']['uncommitted']} uncommitted changes under gateway/ bridge/ "
        f"device_profiles/ rules/; hot path {meta['firegrid'].get('hot_path', 'pure')}), "
        f"run {meta['date']}, mode {meta['mode']}, "
        + (f"gateway at nice {nice}, " if (nice := meta["plan"].get("gateway_nice")) else "")
        + f"fleet {meta['fleet']['devices']} devices {meta['fleet']['by_measurement']}",
        f"- load average at start {meta.get('loadavg_at_start')}, at end "
        f"{meta.get('loadavg_at_end')} (1/5/15 min)",
    ]


def text(r: dict[str, Any]) -> str:
    return "\n".join(["", *machine_lines(r), "", *sections(r), ""])


def _stalls(latency: dict[str, Any], histogram: str) -> str:
    """ "n of m" over 50 ms in the phase, from the gateway's own histogram (runs before the
    gateway had it: "-")."""
    found = latency.get("stalls", {}).get(histogram)
    return "-" if found is None else f"{found['over_50ms']} of {found['count']}"

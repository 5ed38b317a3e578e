"""``python -m benchmarks.pipeline --full | --smoke [--json FILE] [--results-md FILE]``.

Starts its own Mosquitto and InfluxDB 1.x (the test fixtures' starters), runs ``firegrid run``
and the Node-RED peer through the same workload, prints a table and exits non-zero when a
point was not counted back (never on a missed performance target: that is the report's job).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import orjson

from benchmarks.pipeline import report
from benchmarks.pipeline.run import FULL, SMOKE, Run, workdir


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pipeline", description=__doc__)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--full", action="store_true", help="the baseline: 100k devices (~9 min)")
    mode.add_argument("--smoke", action="store_true", help="CI: 1k devices, 500 messages")
    p.add_argument("--json", type=Path, help="write the report as JSON here")
    p.add_argument("--results-md", type=Path, help="write the RESULTS.md body here")
    p.add_argument("--no-node-red", action="store_true", help="skip the Node-RED peer")
    p.add_argument("--no-profile", action="store_true", help="skip the py-spy phase")
    p.add_argument("--devices", type=int, help="override the plan's device count")
    p.add_argument("--messages", type=int, help="override the throughput message count")
    p.add_argument(
        "--commit",
        help="measure this commit (git archive into the work dir), not the working tree",
    )
    p.add_argument(
        "--pure-python",
        action="store_true",
        help="with --commit: leave its hot path uncompiled (the A of an A/B against mypyc)",
    )
    p.add_argument("--keep", type=Path, help="work in this dir and keep logs and data")
    p.add_argument(
        "--gateway-nice",
        type=int,
        default=0,
        help="run firegrid at this nice value (-10: as the systemd unit's CPUWeight=1000 would)",
    )
    args = p.parse_args(argv)
    if args.pure_python and not args.commit:
        p.error("--pure-python needs --commit (the working tree runs as it is installed)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    plan = FULL if args.full else SMOKE
    changes: dict[str, object] = {}
    if args.no_node_red:
        changes["node_red"] = False
    if args.no_profile:
        changes["profile_messages"] = 0
    if args.devices:
        changes["devices"] = args.devices
    if args.messages:
        changes["throughput_messages"] = args.messages
    if args.gateway_nice:
        changes["gateway_nice"] = args.gateway_nice
    plan = dataclasses.replace(plan, **changes)  # type: ignore[arg-type]
    with workdir(args.keep) as where:
        result = Run(plan, where, args.commit, args.pure_python).execute().as_dict()
    if args.json:  # first: a long run's numbers survive a bug in the rendering below
        args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print(report.text(result))
    if args.results_md:
        from benchmarks.pipeline.results_md import write

        write(args.results_md, result)
    if not result["all_counted"]:
        print("some points were not counted back in InfluxDB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

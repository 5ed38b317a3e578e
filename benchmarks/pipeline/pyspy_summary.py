"""The top of a py-spy profile: which functions the gateway spends its samples in.

Input is py-spy's ``--format raw`` (collapsed stacks: ``frame;frame;...;frame count``, each
frame ``function (file:line)``). Self time is the innermost frame of a sample; total time
counts a function once per sample it is anywhere on the stack.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")
_SHORTEN = (
    (re.compile(r".*/site-packages/"), ""),
    (re.compile(r".*/lib/python3\.\d+/"), "stdlib/"),
    (re.compile(r".*/(gateway|bridge)/"), r"\1/"),
)


def _function(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    for pattern, repl in _SHORTEN:
        path = pattern.sub(repl, path, count=1)
    return f"{match['name']} ({path})"


def summarise(path: Path, top: int = 25) -> dict[str, Any]:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(f) for f in stack.split(";") if f]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for name in set(frames):
            total[name] += count

    def rows(counter: Counter[str], keep: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        chosen = [(k, n) for k, n in counter.most_common() if not keep or _ours(k, keep)]
        return [
            {"function": name, "samples": n, "pct": round(100 * n / max(samples, 1), 1)}
            for name, n in chosen[:top]
        ]

    return {
        "samples": samples,
        "top_self": rows(own),
        # Inclusive time of firegrid's own functions (the framework frames above them are
        # on every sample and say nothing).
        "top_total": rows(total, keep=("(gateway/", "(bridge/")),
    }


def _ours(function: str, prefixes: tuple[str, ...]) -> bool:
    return any(p in function for p in prefixes) and not function.startswith(("main (", "run ("))

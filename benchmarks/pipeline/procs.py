"""The processes a benchmark run starts: the publisher, ``firegrid run``, Node-RED, py-spy.

Every child is started with ``PR_SET_PDEATHSIG`` (it dies with the benchmark, even on
SIGKILL), every wait has a timeout, and each ``stop`` ends only the process it started.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import psutil

REPO = Path(__file__).resolve().parents[2]


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(
    cmd: list[str],
    log: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    pipes: bool = False,
) -> subprocess.Popen[str]:
    out: IO[str] | int = subprocess.PIPE if pipes else subprocess.DEVNULL
    if log is not None and not pipes:
        out = log.open("a")
    return subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT if log is not None and not pipes else None,
        env=env,
        cwd=cwd,
        text=True,
        preexec_fn=_die_with_parent,
    )


def stop(proc: subprocess.Popen[Any], grace: float = 20.0) -> int | None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def wait_until(
    condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not true after {timeout:.0f} s (last: {result!r:.300})")
        time.sleep(interval)


class CpuMeter:
    """User + system CPU seconds of one process (all its threads), and its RSS."""

    def __init__(self, pid: int) -> None:
        self._proc = psutil.Process(pid)

    def cpu_s(self) -> float:
        times = self._proc.cpu_times()
        return float(times.user + times.system)

    def rss_bytes(self) -> int:
        return int(self._proc.memory_info().rss)

    def split_s(self) -> dict[str, float]:
        """CPU seconds by where they went: the main thread (the event loop) in user and in
        system mode, and every other thread (SQLite's, the DNS/executor pool's) together.
        Threads that ended since an earlier reading are missing from a later one, so the
        split is read over windows in which the process starts no short-lived threads."""
        split = {"main_user": 0.0, "main_system": 0.0, "threads": 0.0}
        for thread in self._proc.threads():
            if thread.id == self._proc.pid:
                split["main_user"] += thread.user_time
                split["main_system"] += thread.system_time
            else:
                split["threads"] += thread.user_time + thread.system_time
        return split


class Publisher:
    """``benchmarks.pipeline.mqttpub`` in its own process: ``ready()``, ``go()``, ``result()``."""

    def __init__(self, port: int, messages: Path, rate: float = 0.0, client_id: str = "") -> None:
        cmd = [sys.executable, "-m", "benchmarks.pipeline.mqttpub", "--port", str(port)]
        cmd += ["--input", str(messages), "--rate", str(rate)]
        cmd += ["--client-id", client_id or f"bench-pub-{os.getpid()}-{time.monotonic_ns()}"]
        self._proc = spawn(cmd, cwd=REPO, pipes=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if line != "READY":
            stop(self._proc)
            raise RuntimeError(f"publisher did not start: {line!r}")

    def go(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write("go\n")
        self._proc.stdin.flush()

    def result(self, timeout: float = 900.0) -> dict[str, Any]:
        assert self._proc.stdout is not None
        try:
            out, _ = self._proc.communicate(timeout=timeout)
        finally:
            stop(self._proc)
        for line in out.splitlines():
            if line.startswith("RESULT "):
                result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
                if result["error"]:
                    raise RuntimeError(f"publisher: {result['error']}")
                return result
        raise RuntimeError(f"publisher ended without a result: {out[-500:]!r}")


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> str:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        return str(resp.read().decode())


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


class PySpy:
    """``py-spy record`` attached to a running process, raw (collapsed) stacks, until stopped."""

    def __init__(self, pid: int, output: Path, rate: int = 100) -> None:
        exe = Path(sys.executable).parent / "py-spy"
        cmd = [str(exe), "record", "--pid", str(pid), "--format", "raw", "--nonblocking"]
        cmd += ["--rate", str(rate), "--output", str(output)]
        self.output = output
        self._log = output.with_suffix(".log")
        self._proc = spawn(cmd, log=self._log)
        time.sleep(1.0)  # attached and sampling
        if self._proc.poll() is not None:
            raise RuntimeError(f"py-spy exited: {self._log.read_text()[-1000:]}")

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote no profile: {self._log.read_text()[-1000:]}")

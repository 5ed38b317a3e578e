"""Free loopback ports for test servers, and waiting on a condition (never sleep-and-hope)."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``condition`` until it returns something truthy; return that, or raise on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not true after {timeout} s (last: {result!r})")
        time.sleep(interval)


def log_tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def start_process(
    cmd: list[str], log_path: Path, ready_url: str, timeout: float = 30.0
) -> subprocess.Popen[bytes]:
    """Start a server and wait until ``ready_url`` answers 2xx; on failure raise with its log."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{cmd[0]} exited with {proc.returncode} before answering {ready_url}:\n"
                + log_tail(log_path)
            )
        try:
            with urllib.request.urlopen(ready_url, timeout=1) as resp:
                return bool(200 <= resp.status < 300)
        except (urllib.error.URLError, OSError):
            return False

    try:
        wait_until(ready, timeout, f"{cmd[0]} answering {ready_url}")
    except TimeoutError as exc:
        stop_process(proc)
        raise RuntimeError(f"{exc}\n{log_tail(log_path)}") from exc
    return proc


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

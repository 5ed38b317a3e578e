"""``pip install`` without a C compiler: the hot path falls back to pure Python and works.

A real pip install of a copy of this tree (no network: the build runs in this environment,
whose setuptools and mypy are the build requirements), with the compiler replaced by one that
always fails, as on a machine without gcc.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _source_copy(dest: Path) -> Path:
    skip = shutil.ignore_patterns("*.so", "__pycache__", "_compiled_sources.json")
    for name in ("gateway", "bridge"):
        shutil.copytree(ROOT / name, dest / name, ignore=skip)
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    return dest


def test_without_a_compiler_the_install_is_pure_python_and_says_so(tmp_path: Path) -> None:
    source = _source_copy(tmp_path / "src")
    site = tmp_path / "site"
    env = os.environ | {"CC": "false", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("FIREGRID_PURE_PYTHON", None)
    install = [sys.executable, "-m", "pip", "install", "-v", "--no-build-isolation", "--no-deps"]
    done = subprocess.run(
        [*install, "--no-index", "--target", str(site), str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "installing it as pure Python" in done.stderr + done.stdout
    assert not list(site.rglob("*.so")), "a half-built extension was left installed"
    assert not (site / "gateway" / "_compiled_sources.json").exists()

    probe = "import gateway.compiled as c, gateway.pipeline as p; print(c.hot_path(), p.__file__)"
    ran = subprocess.run(
        [sys.executable, "-c", probe],
        env=os.environ | {"PYTHONPATH": str(site)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    kind, module_file = ran.stdout.split()
    assert kind == "pure" and module_file == str(site / "gateway" / "pipeline.py")

"""Build: the ingest hot path compiled with mypyc when a C compiler is at hand.

Everything else is declared in ``pyproject.toml``. The modules compiled are
``gateway.compiled.HOT_MODULES``; the build records the SHA-256 of each one's source in
``gateway/_compiled_sources.json`` so a stale extension is refused at start-up
(``gateway.compiled.check``). Without a compiler (or with ``FIREGRID_PURE_PYTHON=1``) the
install is pure Python: the same code, only slower.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent


def _compiled_registry() -> Any:
    """``gateway/compiled.py`` loaded on its own (importing the package needs its dependencies)."""
    path = HERE / "gateway" / "compiled.py"
    spec = importlib.util.spec_from_file_location("_firegrid_compiled", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class OptionalBuildExt(build_ext):
    """Compile the hot modules, or warn and leave the pure-Python install working."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, no Python headers: the install still works
            self._fall_back(exc)

    def _fall_back(self, exc: BaseException) -> None:
        for ext in self.extensions:  # half a build would import the shims without their library
            Path(self.get_ext_fullpath(ext.name)).unlink(missing_ok=True)
        for where in (HERE, Path(self.build_lib)):  # the record, in place and as packaged
            (where / "gateway" / "_compiled_sources.json").unlink(missing_ok=True)
        sys.stderr.write(
            f"\nfiregrid: the hot path could not be compiled ({exc}); installing it as pure "
            "Python, which works the same but costs ~1.5x the CPU per message. For the "
            "compiled build install a C compiler and the Python headers (Debian: gcc "
            "python3-dev) and install again.\n\n"
        )


def _ext_modules() -> list[Any]:
    if os.environ.get("FIREGRID_PURE_PYTHON", "") not in ("", "0"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        sys.stderr.write("firegrid: mypyc not available; installing pure Python\n")
        return []
    registry = _compiled_registry()
    sources = {m: registry.source_path(m) for m in registry.HOT_MODULES}
    digests = {m: registry.source_digest(p) for m, p in sources.items()}
    (HERE / "gateway" / "_compiled_sources.json").write_text(json.dumps(digests, indent=1) + "\n")
    paths = [str(p.relative_to(HERE)) for p in sources.values()]
    # Not pyproject's [tool.mypy]: its pydantic plugin and strictness are for the type check
    # (`mypy` in scripts/test.sh); the build only needs the types, from its build requirements.
    options = ["--config-file=", "--python-version=3.11", "--ignore-missing-imports"]
    return list(mypycify([*options, *paths], opt_level="3", debug_level="0", group_name="firegrid"))


setup(ext_modules=_ext_modules(), cmdclass={"build_ext": OptionalBuildExt})

"""Which modules of the ingest hot path are compiled, and whether what runs is what is on disk.

``pip install`` compiles the modules in :data:`HOT_MODULES` with mypyc (``setup.py``) when a C
compiler and the Python headers are there: the same source, typed as it is for ``mypy
--strict``, turned into C extensions that cost ~1.7× less CPU per message in-process
(``benchmarks/RESULTS.md``). Without a compiler the install is pure Python and works the same,
only slower; ``FIREGRID_PURE_PYTHON=1`` at install asks for that on purpose.

An extension module is imported before its ``.py``. In a source checkout installed with ``pip
install -e .`` an edited hot module would therefore keep running its old compiled self, so
the build records each compiled source's SHA-256 (``_compiled_sources.json``) and
:func:`check` refuses to start on a mismatch, naming the module and the command that rebuilds.
This module is not compiled itself and reads no clock.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCES_FILE = PACKAGE_DIR / "_compiled_sources.json"

# The modules every message passes through: MQTT packets → the message flow → topic → codec →
# Reading → line protocol and the sink's buffer, the liveness tracker and rate limit, and the
# rules engine with its conditions and the patrol schedules' arithmetic (every scan).
HOT_MODULES: tuple[str, ...] = (
    "gateway.model",
    "gateway.flow",
    "gateway.pipeline",
    "gateway.ratelimit",
    "gateway.tally",
    "gateway.tracker",
    "gateway.ingest.packets",
    "gateway.ingest.connection",
    "gateway.ingest.topics",
    "gateway.codecs.base",
    "gateway.codecs.binary_struct",
    "gateway.codecs.depth",
    "gateway.codecs.json_map",
    "gateway.sinks.linebuffer",
    "gateway.sinks.lineprotocol",
    "gateway.rules.base",
    "gateway.rules.engine",
    "gateway.rules.outcomes",
    "gateway.rules.params",
    "gateway.rules.runtime",
    "gateway.rules.schedule",
    "gateway.rules.store",
    "gateway.rules.conditions.correlation",
    "gateway.rules.conditions.inactivity",
    "gateway.rules.conditions.level",
    "gateway.rules.conditions.patrol",
    "gateway.rules.conditions.predicates",
    "gateway.rules.conditions.repeat",
    "gateway.rules.conditions.scan",
    "gateway.rules.conditions.storm",
)

REBUILD_HINT = (
    "run `.venv/bin/pip install -e .` again to rebuild (or `FIREGRID_PURE_PYTHON=1 pip "
    "install -e .` for no compiled modules); an extension of a module no longer compiled "
    "is deleted by hand"
)


class StaleBuildError(ImportError):
    """A compiled hot module was built from a different source than the one beside it."""


def source_path(module: str) -> Path:
    """``gateway.rules.engine`` → ``<package dir>/rules/engine.py``."""
    parts = module.split(".")
    return PACKAGE_DIR.joinpath(*parts[1:-1], parts[-1] + ".py")


def source_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def built_from() -> dict[str, str]:
    """Module → SHA-256 of the source each extension was compiled from ({} if none were)."""
    try:
        recorded = json.loads(SOURCES_FILE.read_text())
    except FileNotFoundError:
        return {}
    return {str(k): str(v) for k, v in recorded.items()}


def compiled_modules() -> list[str]:
    """The hot modules that have a compiled extension on disk (in :data:`HOT_MODULES` order)."""
    on_disk = set(extensions_on_disk())
    return [m for m in HOT_MODULES if m in on_disk]


def extensions_on_disk() -> list[str]:
    """Every module under the package with an extension file, listed or not: one left over
    from a module since dropped from :data:`HOT_MODULES` would shadow its source all the same."""
    suffixes = importlib.machinery.EXTENSION_SUFFIXES  # the most specific first
    found = []
    for path in PACKAGE_DIR.rglob("*"):
        suffix = next((x for x in suffixes if path.name.endswith(x)), None)
        if suffix is not None:
            parts = path.relative_to(PACKAGE_DIR).parts
            found.append(".".join(["gateway", *parts[:-1], parts[-1].removesuffix(suffix)]))
    return sorted(found)


def stale_modules() -> list[str]:
    """Compiled modules whose source is not the one they were built from (or that the last
    build did not compile at all)."""
    recorded = built_from()
    stale = []
    for module in extensions_on_disk():
        source = source_path(module)
        # An install without the sources beside its extensions has nothing to go stale.
        if source.exists() and recorded.get(module) != source_digest(source):
            stale.append(module)
    return stale


def check() -> None:
    """Raise :class:`StaleBuildError` if a compiled module would run an older source."""
    stale = stale_modules()
    if stale:
        names = ", ".join(stale)
        raise StaleBuildError(f"compiled from an older source: {names}; {REBUILD_HINT}")


def hot_path() -> str:
    """``compiled``, ``pure`` or ``partial``: the ``hot_path`` label of ``firegrid_build_info``."""
    done = len(compiled_modules())
    return "pure" if done == 0 else "compiled" if done == len(HOT_MODULES) else "partial"


def describe() -> str:
    """One line for the start-up log: compiled or pure Python."""
    done = compiled_modules()
    if not done:
        return "hot path: pure Python (no modules compiled at install; see README, Performance)"
    if len(done) == len(HOT_MODULES):
        return f"hot path: compiled with mypyc ({len(done)} modules)"
    missing = ", ".join(m for m in HOT_MODULES if m not in done)
    return f"hot path: partly compiled ({len(done)} of {len(HOT_MODULES)}; not: {missing})"

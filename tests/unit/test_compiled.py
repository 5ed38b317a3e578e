"""The compiled hot path: what is compiled, and a stale extension refused at start-up."""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import os
import pkgutil
from pathlib import Path

import pytest

from gateway import compiled
from gateway.rules.base import State

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def test_every_hot_module_is_compiled_unless_pure_python_was_asked_for() -> None:
    """scripts/test.sh installs a C compiler and the Python headers, so a pure-Python install
    here means the build fell back silently: the benchmarks would measure the wrong thing."""
    pure = os.environ.get("FIREGRID_PURE_PYTHON", "") not in ("", "0")
    expected = [] if pure else list(compiled.HOT_MODULES)
    assert compiled.compiled_modules() == expected
    for name in expected:
        assert importlib.import_module(name).__file__.endswith(SUFFIX), name  # type: ignore[union-attr]
    assert compiled.stale_modules() == []


def test_every_rule_condition_and_state_lives_in_a_compiled_module() -> None:
    """A compiled class cannot be subclassed by an interpreted one: a new condition module
    left out of HOT_MODULES would fail to import in a compiled install."""
    import gateway.rules.conditions as conditions

    names = {
        f"gateway.rules.conditions.{m.name}" for m in pkgutil.iter_modules(conditions.__path__)
    }
    assert names <= set(compiled.HOT_MODULES)
    import gateway.rules.compile  # noqa: F401  (imports every condition module)

    todo, kinds = list(State.__subclasses__()), []
    while todo:
        kinds.append(kind := todo.pop())
        todo += kind.__subclasses__()
    assert kinds and {k.__module__ for k in kinds} <= set(compiled.HOT_MODULES)


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package dir with the sources of two hot modules, neither compiled yet."""
    monkeypatch.setattr(compiled, "PACKAGE_DIR", tmp_path)
    monkeypatch.setattr(compiled, "SOURCES_FILE", tmp_path / "_compiled_sources.json")
    monkeypatch.setattr(compiled, "HOT_MODULES", ("gateway.pipeline", "gateway.rules.engine"))
    (tmp_path / "rules").mkdir()
    (tmp_path / "pipeline.py").write_text("A = 1\n")
    (tmp_path / "rules" / "engine.py").write_text("B = 2\n")
    return tmp_path


def _build(package: Path, *modules: str) -> None:
    """What setup.py leaves behind: an extension per module and the digests of the sources."""
    digests = {}
    for module in modules:
        source = compiled.source_path(module)
        source.with_name(source.stem + SUFFIX).write_bytes(b"\x7fELF")
        digests[module] = compiled.source_digest(source)
    (package / "_compiled_sources.json").write_text(json.dumps(digests))


def test_a_pure_install_is_described_and_never_stale(package: Path) -> None:
    assert compiled.compiled_modules() == [] and compiled.stale_modules() == []
    compiled.check()
    assert compiled.describe().startswith("hot path: pure Python")


def test_a_build_is_current_until_a_compiled_source_changes(package: Path) -> None:
    _build(package, "gateway.pipeline", "gateway.rules.engine")
    compiled.check()
    assert compiled.describe() == "hot path: compiled with mypyc (2 modules)"

    (package / "rules" / "engine.py").write_text("B = 3\n")  # edited after the build
    assert compiled.stale_modules() == ["gateway.rules.engine"]
    with pytest.raises(compiled.StaleBuildError) as refused:
        compiled.check()
    assert "gateway.rules.engine" in str(refused.value)
    assert "pip install -e ." in str(refused.value)
    assert isinstance(refused.value, ImportError)  # what a failed import raises anyway


def test_an_extension_without_a_record_is_stale(package: Path) -> None:
    _build(package, "gateway.pipeline")
    (package / "_compiled_sources.json").unlink()
    assert compiled.stale_modules() == ["gateway.pipeline"]


def test_a_partial_build_names_what_is_not_compiled(package: Path) -> None:
    _build(package, "gateway.pipeline")
    assert compiled.describe() == "hot path: partly compiled (1 of 2; not: gateway.rules.engine)"


def test_metrics_say_whether_the_hot_path_is_compiled() -> None:
    from gateway import __version__
    from gateway.metrics import Metrics

    text = Metrics().render().decode()
    expected = (
        f'firegrid_build_info{{hot_path="{compiled.hot_path()}",version="{__version__}"}} 1.0'
    )
    assert expected in text
    assert compiled.hot_path() == ("compiled" if compiled.compiled_modules() else "pure")


def test_an_extension_left_over_from_a_module_no_longer_compiled_is_stale(package: Path) -> None:
    """It would shadow its source as any extension does, so it is refused like a stale one."""
    _build(package, "gateway.pipeline")
    (package / "metrics.py").write_text("C = 3\n")
    (package / ("metrics" + SUFFIX)).write_bytes(b"\x7fELF")  # from a build that listed it
    assert compiled.stale_modules() == ["gateway.metrics"]
    with pytest.raises(compiled.StaleBuildError, match=r"gateway\.metrics"):
        compiled.check()

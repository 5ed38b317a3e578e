"""Load every ``rules/*.yaml`` into one validated :class:`RuleSet`; a cheap change fingerprint.

Errors name file, line, key and reason (via :func:`gateway.yamlfile.load_yaml_model`), all of
them together. References between rules (``correlate.rule``, ``storm.rule``) may cross files:
a first pass collects every rule id so each file is validated against all of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import yaml

from gateway.profiles import DeviceProfile
from gateway.rules.compile import compile_rules
from gateway.rules.ruleset import Rule, RuleFile, RuleSet
from gateway.rules.spec import CONDITION_KEYS
from gateway.yamlfile import ConfigFileError, load_yaml_model


def _scalar(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if getattr(k, "value", None) == key), None)
    return None


def _index(path: Path) -> dict[str, tuple[str, int]]:
    """Rule id → (condition key, line) from a file's YAML tree; silent on anything malformed
    (the real validation reports it)."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    rules = _scalar(root, "rules") if root is not None else None
    found: dict[str, tuple[str, int]] = {}
    if not isinstance(rules, yaml.SequenceNode):
        return found
    for item in rules.value:
        id_node = _scalar(item, "id")
        if id_node is None or not isinstance(id_node.value, str):
            continue
        keys = [k.value for k, _ in item.value if getattr(k, "value", None) in CONDITION_KEYS]
        condition = keys[0] if keys else ""
        found.setdefault(id_node.value, (condition, item.start_mark.line + 1))
    return found


def _merge(files: list[tuple[Path, RuleFile]], lines: Mapping[Path, Mapping[str, int]]) -> RuleSet:
    rules: list[Rule] = []
    sources: dict[str, str] = {}
    errors: list[str] = []
    defaults: dict[str, float] = {}
    defaults_from: dict[str, Path] = {}
    grids: dict[str, dict[str, float]] = {}
    for path, content in files:
        for i, rule in enumerate(content.rules):
            where = f"{path}:{lines[path].get(rule.id, 0)}"
            if rule.id in sources:
                also = sources[rule.id]
                errors.append(f"{where}: rules.{i}.id: rule id {rule.id!r} is also in {also}")
                continue
            sources[rule.id] = where
            rules.append(rule)
        for name, value in content.defaults.items():
            if name in defaults and defaults[name] != value:
                errors.append(
                    f"{path}: defaults.{name}: {value} disagrees with {defaults[name]} "
                    f"in {defaults_from[name]}"
                )
            defaults[name], defaults_from[name] = value, path
        for grid, values in content.overrides.grids.items():
            merged = grids.setdefault(grid, {})
            for name, value in values.items():
                if name in merged and merged[name] != value:
                    errors.append(f"{path}: overrides.grids.{grid}.{name}: set twice, differently")
                merged[name] = value
            sources.setdefault(f"overrides.grids.{grid}", str(path))
    if errors:
        raise ConfigFileError("\n".join(errors))
    return RuleSet(tuple(rules), defaults, grids, sources)


def load_rule_sets(directory: Path, profiles: Mapping[str, DeviceProfile] | None = None) -> RuleSet:
    """Every ``*.yaml`` in ``directory``, validated; with ``profiles``, also compiled against
    them (a parameter nobody defines, a field a profile lacks). Raises ConfigFileError."""
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise ConfigFileError(f"{directory}: no rule sets (*.yaml) found")
    indexes = {path: _index(path) for path in paths}
    known = {rule_id: cond for index in indexes.values() for rule_id, (cond, _) in index.items()}
    files, errors = [], []
    for path in paths:
        try:
            files.append((path, load_yaml_model(path, RuleFile, context={"rules": known})))
        except ConfigFileError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigFileError("\n".join(errors))
    lines = {path: {r: line for r, (_, line) in index.items()} for path, index in indexes.items()}
    rule_set = _merge(files, lines)
    if profiles is not None:
        compile_rules(rule_set, profiles)
    return rule_set


def fingerprint(directory: Path) -> str:
    """Changes when any ``*.yaml`` is added, removed, touched or resized: cheap to poll."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.yaml")):
        try:
            stat = path.stat()
        except OSError:
            continue
        digest.update(f"{path.name}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode())
    return digest.hexdigest()

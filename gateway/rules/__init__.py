"""Rules engine: declarative rule sets (``rules/*.yaml``) judged purely, with time injected.

Public API: :func:`load_rule_sets` and :func:`fingerprint` (files), :class:`RuleSet`,
:class:`RulesEngine` (``on_reading``, ``on_tick``, ``reload``, ``snapshot``/``restore``,
``dirty_keys``/``snapshot_key``/``mark_clean``), the :class:`Topology` it reads on a tick, and
the outcomes it produces (:class:`Alarm`, :class:`Clear`) — see ``rules/README.md``.
"""

from gateway.rules.engine import RulesEngine
from gateway.rules.loader import fingerprint, load_rule_sets
from gateway.rules.outcomes import Alarm, Clear, IncidentKind, Outcome, Severity
from gateway.rules.ruleset import RuleSet
from gateway.rules.topology import Topology

__all__ = [
    "Alarm",
    "Clear",
    "IncidentKind",
    "Outcome",
    "RuleSet",
    "RulesEngine",
    "Severity",
    "Topology",
    "fingerprint",
    "load_rule_sets",
]

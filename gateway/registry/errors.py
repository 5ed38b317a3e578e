"""What the registry refuses, and why, in words an installer can act on.

A :class:`Problem` names the field at fault (a path such as ``("location", "lat")``) so the
REST layer can answer ``loc: ["body", "location", "lat"]`` and the CSV import can answer
``line 7: lat: ...``. ``item`` says which entry of a batch it belongs to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    field: FieldPath
    message: str
    conflict: bool = False  # clashes with something already registered (HTTP 409), not malformed
    item: int = 0


class RegistryError(Exception):
    """Base of everything the registry refuses."""


class NotFoundError(RegistryError):
    pass


class ConflictError(RegistryError):
    """An id (or external id) is already taken."""


class InvalidError(RegistryError):
    """One or more problems; nothing was changed."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(_describe(p) for p in self.problems))


def _describe(problem: Problem) -> str:
    where = ".".join(str(part) for part in problem.field)
    return f"{where}: {problem.message}" if where else problem.message


def raise_for(problems: Sequence[Problem]) -> None:
    """Raise ConflictError when every problem is a clash, else InvalidError (if any)."""
    if not problems:
        return
    if all(p.conflict for p in problems):
        raise ConflictError("; ".join(p.message for p in problems))
    raise InvalidError(problems)

"""What the incident service refuses. The REST API maps these: not found → 404, refused → 409.

They derive from the registry's ``NotFoundError``/``ConflictError`` as well, so the handlers
the API already installs answer 404/409 for them without another mapping.
"""

from __future__ import annotations

from gateway.registry.errors import ConflictError, NotFoundError


class IncidentError(Exception):
    """Base of everything the incident service refuses."""


class IncidentNotFoundError(IncidentError, NotFoundError):
    def __init__(self, incident_id: str) -> None:
        self.incident_id = incident_id
        super().__init__(f"no incident {incident_id}")


class InvalidTransitionError(IncidentError, ConflictError):
    """The action does not apply to the incident as it stands (HTTP 409); nothing changed."""

    def __init__(self, incident_id: str, status: str, action: str, reason: str) -> None:
        self.incident_id = incident_id
        self.status = status
        self.action = action
        self.reason = reason
        super().__init__(f"incident {incident_id} is {status}: cannot {action}: {reason}")

"""The errors the core raises, and nothing else.

    EmpireError                 base; carries a message that says what was wrong and how to fix it
    ├── NotFound                a named thing (app, release, process, domain, task) does not exist
    ├── Invalid                 the request is malformed or breaks a rule (bad name, bad size, ...)
    │   ├── InvalidImage        the image reference cannot be parsed
    │   ├── InvalidProcfile     the image's Procfile cannot be parsed
    │   └── InvalidCertificate  a certificate the router could not serve (bad chain, key, dates)
    ├── Conflict                the request clashes with existing state (name taken, domain in use)
    ├── MessageRequired         the server requires a commit message and none was given
    ├── Unauthorized            no valid credentials
    ├── Forbidden               valid credentials without the needed rights
    ├── Unavailable             a dependency (database, engine) is down; try again later
    ├── NotSupported            this backend cannot do that
    ├── RegistryError           the image could not be pulled or inspected
    └── SchedulerError          the scheduler backend failed

The HTTP layer maps each class to a status code and an error id in one table (`empire.api.errors`).
"""

from __future__ import annotations


class EmpireError(Exception):
    """Base class of every error the core raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(EmpireError):
    """A named resource does not exist."""

    def __init__(self, message: str, *, resource: str = "") -> None:
        super().__init__(message)
        self.resource = resource


class Invalid(EmpireError):
    """The request is malformed or breaks a rule."""


class InvalidImage(Invalid):
    """The image reference cannot be parsed."""


class InvalidProcfile(Invalid):
    """The Procfile cannot be parsed."""


class InvalidCertificate(Invalid):
    """A certificate is not one the router can serve (HTTP 422)."""


class Conflict(EmpireError):
    """The request conflicts with existing state."""


class MessageRequired(EmpireError):
    """A commit message is required for this action."""

    def __init__(self, message: str = "Header 'Commit-Message' is required") -> None:
        super().__init__(message)


class Unauthorized(EmpireError):
    """No valid credentials were given."""


class Forbidden(EmpireError):
    """The credentials do not grant this action."""


class Unavailable(EmpireError):
    """A dependency is unavailable; the request may succeed later."""


class NotSupported(EmpireError):
    """The configured backend cannot do this."""


class RegistryError(EmpireError):
    """The image could not be pulled or inspected."""


class ImageNotFound(RegistryError):
    """The image does not exist in the registry nor locally."""


class SchedulerError(EmpireError):
    """The scheduler backend failed."""

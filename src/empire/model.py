"""The domain's values: frozen dataclasses with no I/O.

Vocabulary: app, release, config, slug, formation, process, task, domain. The Heroku words
(dyno, config-vars) live only at the HTTP edge.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Clock = Callable[[], datetime]  # what tells the time: utcnow, or a test's clock


def utcnow() -> datetime:
    """The time now, in UTC: every clock's default."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Size:
    """CPU shares, memory (bytes) and a process limit; nproc 0 means unlimited."""

    cpu_shares: int
    memory: int
    nproc: int = 0


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """How to tell an instance is ready: an HTTP GET of `path`, or a TCP connect."""

    type: Literal["http", "tcp"] = "tcp"
    path: str = "/"
    interval: float = 5.0
    timeout: float = 2.0
    grace: float = 0.0
    port: int | None = None


@dataclass(frozen=True, slots=True)
class Port:
    """A port a process listens on; `host` is the port it is reached on inside the platform."""

    host: int
    container: int
    protocol: str = "http"


@dataclass(frozen=True, slots=True)
class Process:
    """One process type of a release's formation."""

    name: str
    command: tuple[str, ...]
    quantity: int = 0
    size: Size | None = None
    noservice: bool = False
    cron: str | None = None
    ports: tuple[Port, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    healthcheck: HealthCheck | None = None


Formation = dict[str, Process]


class Exposure(enum.StrEnum):
    PRIVATE = "private"
    PUBLIC = "public"


class Outcome(enum.StrEnum):
    """Where a release's rollout ended."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    email: str = ""
    admin: bool = False


class Role(enum.StrEnum):
    """A role on one app; each includes the ones before it: viewer < deployer < admin.

    viewer: read (info, releases, formation, dynos, logs, domains, audit, collaborators);
    deployer: also deploy, roll back, config vars (read and write), scale, restart, run,
    maintenance; admin: also destroy, rename, domains, certificates, access.
    """

    VIEWER = "viewer"
    DEPLOYER = "deployer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self.value]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return self.rank >= other.rank


_RANKS = {"viewer": 1, "deployer": 2, "admin": 3}


@dataclass(frozen=True, slots=True)
class Team:
    """Users who share grants: a role granted to a team is every member's."""

    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Grant:
    """A role on one app, granted to a user or to a team (exactly one of the two)."""

    id: str
    app_id: str
    app_name: str
    role: Role
    created_at: datetime
    user: User | None = None
    team: Team | None = None

    @property
    def subject(self) -> str:
        """How the API and the CLI name the grantee: `bob`, or `team:ops`."""
        if self.team is not None:
            return f"team:{self.team.name}"
        assert self.user is not None
        return self.user.name


@dataclass(frozen=True, slots=True)
class App:
    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    repo: str | None = None
    exposure: Exposure = Exposure.PRIVATE
    maintenance: bool = False
    certs: dict[str, str] = field(default_factory=dict)
    released_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Slug:
    """A resolved image and the Procfile read from it."""

    id: str
    image: str
    procfile: bytes


@dataclass(frozen=True, slots=True)
class Config:
    """An immutable snapshot of an app's config vars."""

    id: str
    app_id: str
    vars: dict[str, str]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Release:
    id: str
    app_id: str
    app_name: str
    version: int
    slug: Slug
    config: Config
    formation: Formation
    description: str
    created_at: datetime
    updated_at: datetime
    user: User | None = None
    message: str | None = None
    outcome: Outcome = Outcome.PENDING
    reason: str = ""
    current: bool = False  # the app's newest release
    phase: str = ""  # its release phase: "" (none), running, succeeded or failed
    phase_output: str = ""  # the last lines the release phase printed


@dataclass(frozen=True, slots=True)
class ReleaseSummary:
    """What a release list shows: a release without its config, formation and Procfile."""

    id: str
    app_id: str
    app_name: str
    version: int
    slug_id: str
    image: str
    description: str
    created_at: datetime
    updated_at: datetime
    user: User | None = None
    message: str | None = None
    outcome: Outcome = Outcome.PENDING
    reason: str = ""
    current: bool = False


@dataclass(frozen=True, slots=True)
class Domain:
    id: str
    app_id: str
    hostname: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Task:
    """A running (or recently run) instance of a process, as the scheduler reports it."""

    name: str
    id: str
    process: str
    release: int
    command: str
    state: str
    host: str
    size: Size | None
    updated_at: datetime
    exit_code: int | None = None


@dataclass(frozen=True, slots=True)
class Token:
    id: str
    user: User
    description: str
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Page:
    """A window on a list: the Range header, in neutral words."""

    field: str
    start: str | None = None
    exclusive: bool = False
    max: int = 200
    descending: bool = False


@dataclass(frozen=True, slots=True)
class ScaleUpdate:
    process: str
    quantity: int | None = None
    size: Size | None = None


@dataclass(frozen=True, slots=True)
class RunRequest:
    command: str
    env: dict[str, str] = field(default_factory=dict)
    size: Size | None = None
    attach: bool = False

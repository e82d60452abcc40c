"""Typed progress events of a deploy, as the use cases report them.

A release's life (resolve the image, read its Procfile, record the release, run its release
phase, roll it out, the verdict) is reported as a sequence of these events through a
`ProgressFn`. The use cases never build a wire format: the API renders each event as the
newline-delimited JSON (Docker's jsonmessage shape) `emp` reads, and another transport (the
dashboard, the log pipeline) may render them its own way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Pulled:
    """A pull progress message of the image engine, passed through as it came (Docker's
    jsonmessage: `status`, `id`, `progressDetail`, ...)."""

    message: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Status:
    """A step of the deploy in one sentence (`Resolved acme/api:v1 to acme/api@sha256:...`);
    the scheduler's rollout lines come as these too."""

    text: str


@dataclass(frozen=True, slots=True)
class ReleaseCreated:
    """The release is committed: from here on the deploy can only end in a verdict."""

    version: int
    app: str


@dataclass(frozen=True, slots=True)
class PhaseOutput:
    """One line of the release phase's output (the `release` process of the Procfile)."""

    line: str


@dataclass(frozen=True, slots=True)
class Failed:
    """The deploy ended without a healthy release: why, in one sentence."""

    reason: str


Event = Pulled | Status | ReleaseCreated | PhaseOutput | Failed
ProgressFn = Callable[[Event], None]

STATUS_PREFIX = "Status: "


def status_line(line: str) -> Status:
    """A scheduler's rollout line (`Status: web: 1 instances running`) as a Status event."""
    return Status(line.removeprefix(STATUS_PREFIX))

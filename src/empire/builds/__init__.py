"""Builds from source: the builder port, what a build is, and how its output is bounded.

A build turns a source tarball (a Dockerfile context) into an image the deploy use case then
releases like any other. The core depends only on the `Builder` protocol here; the Docker
engine's classic builder (`empire.builds.docker`) is one implementation, a buildpack builder
could be another. Contexts are checked (`empire.builds.context`) before any builder sees them.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from empire.errors import EmpireError

OUTPUT_LINE = 4000  # characters of one build output line kept (past that: cut, marked)
OUTPUT_BYTES = 1 << 20  # characters of a build's output kept in all (then: one "cut" line)
CUT = "[... build output cut: more than {} characters ...]"


class BuildStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Build:
    """One build of an app: its source, how it went, and the release it made."""

    id: str
    app_id: str
    app_name: str
    status: BuildStatus
    created_at: datetime
    updated_at: datetime
    user_id: str | None = None
    user_name: str = ""
    commit: str = ""  # the git commit built, when it came from a push
    checksum: str = ""  # "SHA256:<hex>" of the source tarball
    source_bytes: int = 0
    image: str = ""  # the image it made (`<app>:<version>`, or `<registry>/<app>@<digest>`)
    release_id: str | None = None
    release_version: int | None = None
    output: str = ""  # its output, bounded (OUTPUT_BYTES)
    reason: str = ""  # why it failed


@dataclass(frozen=True, slots=True)
class BuildLimits:
    """What one build may use."""

    timeout: float = 1800.0  # seconds
    memory: int = 1 << 30  # bytes, for each build step's container
    cpu_shares: int = 512
    max_source: int = 100 << 20  # bytes of the source tarball (uncompressed)


@dataclass(frozen=True, slots=True)
class BuildSpec:
    """What a builder is asked to build: a checked tar context, the tag to give the image."""

    app: str
    build_id: str
    tag: str  # `<app>:<version>`: a short commit, or the build id's first 8 characters
    context: bytes  # an uncompressed tar with a Dockerfile at its root
    limits: BuildLimits


@dataclass(frozen=True, slots=True)
class BuildStarted:
    """The build is recorded (pending): from here on it ends succeeded or failed."""

    build_id: str
    app: str


@dataclass(frozen=True, slots=True)
class BuildOutput:
    """One line of the build's output (already bounded and escaped: `clean`)."""

    line: str


BuildEvent = BuildStarted | BuildOutput


class BuildFailed(EmpireError):
    """The build ran and failed (a step exited non-zero, the timeout): no image was made."""


class Builder(Protocol):
    """Builds images from source contexts."""

    def build(self, spec: BuildSpec, output: Callable[[str], None]) -> str:
        """Build `spec`, tag it `spec.tag`; return the reference to deploy (the tag, or where
        the image was pushed, by digest). Each line of the build's output goes to `output` as
        it comes. Raises BuildFailed (nothing tagged, nothing left behind)."""
        ...

    def prune(self, app: str, keep: set[str]) -> None:
        """Remove the app's build images but those of the versions in `keep` (the part of
        their tag after the colon)."""
        ...


class Output:
    """A build's output, bounded: each line cut at OUTPUT_LINE characters, control and
    binary characters escaped, at most OUTPUT_BYTES characters kept (and passed on)."""

    def __init__(self, sink: Callable[[str], None], limit: int = OUTPUT_BYTES) -> None:
        self._sink = sink
        self._limit = limit
        self._size = 0
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._done = False
        self.cut = False

    def line(self, raw: str) -> None:
        if self.cut:
            return
        text = clean(raw)
        if self._size + len(text) > self._limit:
            self.cut = True
            text = CUT.format(self._limit)
        self._size += len(text) + 1
        with self._changed:
            self._lines.append(text)
            self._changed.notify_all()
        self._sink(text)

    def finish(self) -> None:
        """No more lines: followers end once they have read every line."""
        with self._changed:
            self._done = True
            self._changed.notify_all()

    def follow(self, idle: float = 1.0) -> Iterator[str]:
        """Every line, those to come included, until `finish`; "" when none came for `idle`
        seconds (a follower's chance to notice its reader left)."""
        read = 0
        while True:
            with self._changed:
                if read == len(self._lines) and not self._done:
                    self._changed.wait(idle)
                lines = self._lines[read:]
                done = self._done
            read += len(lines)
            yield from lines if lines else ([] if done else [""])
            if done and not lines:
                return

    def text(self) -> str:
        return "\n".join(self._lines)

    def tail(self, count: int = 5) -> list[str]:
        return self._lines[-count:]


def clean(raw: str) -> str:
    """One output line made safe to show and store: no control character but tab (escaped as
    `\\xNN`), no NUL, at most OUTPUT_LINE characters."""
    text = raw.rstrip("\r\n")
    if len(text) > OUTPUT_LINE:
        text = text[:OUTPUT_LINE] + f" [... {len(text) - OUTPUT_LINE} more characters cut]"
    if text.isprintable():
        return text
    return "".join(
        ch if ch == "\t" or ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 256 else "?"
        for ch in text
    )

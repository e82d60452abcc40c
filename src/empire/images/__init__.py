"""The images contract: identify an image and read its Procfile.

Independent of the scheduler. Implementations: `docker` (the local Docker engine) and `fake`.
Each checks a reference against an `ImagePolicy` (`empire.images.policy`: the operator's
allow-list, no registry at a local address) before it looks the image up.
The core formats the user-visible `Status:` lines from what these return; implementations only
pass through the engine's own pull progress.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from empire.errors import InvalidImage

JsonMessage = dict[str, Any]
ProgressFn = Callable[[JsonMessage], None]

_REF = re.compile(
    r"^(?P<repository>[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A parsed image reference: `[registry/]repository[:tag][@digest]`."""

    repository: str
    registry: str | None = None
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse an image reference, or raise InvalidImage saying what is wrong."""
        text = text.strip()
        if not text:
            raise InvalidImage("image is empty: give a reference such as acme/api:v42")
        first, _, rest = text.partition("/")
        registry: str | None = None
        if rest and ("." in first or ":" in first or first == "localhost"):
            registry, text_ = first, rest
        else:
            text_ = text
        m = _REF.match(text_)
        if m is None:
            raise InvalidImage(
                f"invalid image reference {text!r}: expected [registry/]repository[:tag][@digest], "
                "lowercase repository, e.g. acme/api:v42"
            )
        return cls(
            repository=m.group("repository"),
            registry=registry,
            tag=m.group("tag"),
            digest=m.group("digest"),
        )

    @property
    def name(self) -> str:
        """The last path segment of the repository: the app name `emp deploy` infers."""
        return self.repository.rsplit("/", 1)[-1]

    @property
    def full_repository(self) -> str:
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def __str__(self) -> str:
        text = self.full_repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True, slots=True)
class ResolvedImage:
    """An image's identity: `repo@sha256:…` when it has a repository digest, else its image ID."""

    identity: str
    has_digest: bool


@dataclass(frozen=True, slots=True)
class ProcfileSource:
    """The Procfile bytes and where they came from.

    `path` is the file read from the image (e.g. `/app/Procfile`); when the image has none,
    `path` is None, `cmd` is the image CMD and `content` is a generated extended Procfile.
    """

    content: bytes
    path: str | None = None
    cmd: tuple[str, ...] | None = None


class Images(Protocol):
    """Identify images and read their Procfiles."""

    def resolve(self, ref: ImageRef, progress: ProgressFn | None = None) -> ResolvedImage:
        """Return the image's identity, pulling it first when it is not present locally.

        Raises Forbidden when the backend's policy refuses the reference (nothing is looked
        up then), ImageNotFound when it exists neither locally nor in its registry,
        RegistryError for any other failure.
        """
        ...

    def procfile(self, identity: str) -> ProcfileSource:
        """Read the Procfile from the image's WORKDIR, else generate one from its CMD."""
        ...

    def discard(self, identity: str) -> None:
        """Remove the local copy of an image no release needs any more (best effort): only an
        image the backend itself pulled, and nothing another user (a container, a tag) holds."""
        ...

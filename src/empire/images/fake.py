"""An in-memory Images backend for tests and `EMPIRE_IMAGES=fake` demos.

    images = FakeImages({"acme/api:v1": b"web: ./bin/web\\n"})
    images.add("acme/worker", cmd=["./bin/worker"])
    images.add("acme/legacy:v1", procfile=b"web: ./x\\n", no_digest=True)
    FakeImages(default_procfile=b"web: ./bin/web\\n", accept_any=True)  # any reference resolves
    FakeImages(policy=ImagePolicy(allowed=("acme/*",)))  # refuses what the policy refuses

Identities are deterministic: `repo@sha256:<sha256 of "repo:tag">` (tag `latest` when none),
so a reference gives the same identity in every run. Adding a reference again with different
content (a new push to the same tag) gives it a new identity; the old one stays readable. An
image added with neither Procfile nor CMD reads as `default_procfile` when one is set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from empire.errors import ImageNotFound, InvalidProcfile
from empire.images import ImageRef, ProcfileSource, ProgressFn, ResolvedImage
from empire.images.policy import ImagePolicy
from empire.procfile import generate_from_cmd

PROCFILE_PATH = "/app/Procfile"


@dataclass(frozen=True, slots=True)
class _Image:
    procfile: bytes | None
    cmd: tuple[str, ...] | None


class FakeImages:
    """Resolve images and read their Procfiles from memory; nothing is pulled."""

    def __init__(
        self,
        images: Mapping[str, bytes] | None = None,
        *,
        default_procfile: bytes | None = None,
        accept_any: bool = False,
        policy: ImagePolicy | None = None,
    ) -> None:
        self.default_procfile = default_procfile
        self.accept_any = accept_any
        self.policy = policy or ImagePolicy()  # host names are not resolved: literals only
        self.resolved: list[ImageRef] = []  # every reference resolved, for assertions
        self.discarded: list[str] = []  # every identity discarded, for assertions
        self._tags: dict[str, ResolvedImage] = {}  # normalized reference -> identity
        self._images: dict[str, _Image] = {}  # identity -> content
        for image, procfile in (images or {}).items():
            self.add(image, procfile)

    def add(
        self,
        image: str,
        procfile: bytes | None = None,
        cmd: list[str] | None = None,
        digest: str | None = None,
        *,
        no_digest: bool = False,
    ) -> ResolvedImage:
        """Add (or re-push) an image; return the identity `resolve` will give it."""
        ref = ImageRef.parse(image)
        key = _key(ref)
        content = _Image(procfile, tuple(cmd) if cmd is not None else None)
        resolved = _identity(ref, key, digest, no_digest)
        generation = 1
        # A re-push with other content must change the identity, as a registry's digest would.
        while digest is None and self._images.get(resolved.identity, content) != content:
            generation += 1
            resolved = _identity(ref, f"{key}#{generation}", digest, no_digest)
        self._tags[key] = resolved
        self._images[resolved.identity] = content
        if resolved.has_digest:
            self._tags[resolved.identity] = resolved
        return resolved

    def resolve(self, ref: ImageRef, progress: ProgressFn | None = None) -> ResolvedImage:
        """Return the identity of a known image (or of any image when `accept_any`)."""
        self.policy.check(ref)
        self.resolved.append(ref)
        resolved = self._tags.get(_key(ref))
        if resolved is None and self.accept_any:
            resolved = self.add(str(ref), self.default_procfile)
        if resolved is None:
            raise ImageNotFound(f"image {ref} not found: {self._reason(ref)}")
        if progress is not None:
            progress({"status": f"Pulling from {ref.full_repository}", "id": _tag(ref)})
        return resolved

    def procfile(self, identity: str) -> ProcfileSource:
        """Return the image's Procfile, else one generated from its CMD."""
        image = self._images.get(identity)
        if image is None:
            raise ImageNotFound(f"image {identity} not found: it was never resolved")
        if image.procfile is not None:
            return ProcfileSource(image.procfile, path=PROCFILE_PATH)
        if image.cmd:
            return ProcfileSource(generate_from_cmd(list(image.cmd)), path=None, cmd=image.cmd)
        if self.default_procfile is not None:
            return ProcfileSource(self.default_procfile, path=PROCFILE_PATH)
        raise InvalidProcfile(
            f"image {identity} has no Procfile in its WORKDIR (/app) and no CMD: "
            "add a Procfile or a CMD"
        )

    def discard(self, identity: str) -> None:
        """Forget an image's content; the reference resolves no more."""
        self.discarded.append(identity)
        self._images.pop(identity, None)
        self._tags = {k: v for k, v in self._tags.items() if v.identity != identity}

    def _reason(self, ref: ImageRef) -> str:
        prefix = ref.full_repository + ":"
        if any(key.startswith(prefix) for key in self._tags):
            return f"manifest for {ref} unknown"
        return f"repository {ref.full_repository} does not exist. Check the name and tag"


def _identity(ref: ImageRef, seed: str, digest: str | None, no_digest: bool) -> ResolvedImage:
    sha = hashlib.sha256(seed.encode()).hexdigest()
    if no_digest:
        return ResolvedImage(identity=f"sha256:{sha}", has_digest=False)
    digest = digest or ref.digest or f"sha256:{sha}"
    return ResolvedImage(identity=f"{ref.full_repository}@{digest}", has_digest=True)


def _tag(ref: ImageRef) -> str:
    return ref.digest or ref.tag or "latest"


def _key(ref: ImageRef) -> str:
    """Normalize a reference: a digest names the image alone, else the tag (default latest)."""
    if ref.digest:
        return f"{ref.full_repository}@{ref.digest}"
    return f"{ref.full_repository}:{ref.tag or 'latest'}"

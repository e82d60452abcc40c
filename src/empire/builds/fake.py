"""An in-memory builder for tests and demos: reads the Dockerfile, never runs it.

Each Dockerfile line is echoed as a step; a line `RUN false` (or `RUN exit N`, N > 0) fails
the build there, as the engine would. The image id is the context's SHA-256, so the same
source builds the same image. With `images` (a FakeImages) the built tag is added to it, with
the context's `Procfile` when it has one.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Callable
from typing import Any

from empire.builds import BuildFailed, BuildSpec


class FakeBuilder:
    """Builds nothing; says what it would have built."""

    def __init__(self, images: Any = None) -> None:
        self.images = images
        self.built: list[BuildSpec] = []  # every spec built, for assertions
        self.pruned: list[tuple[str, set[str]]] = []

    def build(self, spec: BuildSpec, output: Callable[[str], None]) -> str:
        files = _files(spec.context)
        lines = [line for line in files["Dockerfile"].decode().splitlines() if line.strip()]
        for number, line in enumerate(lines, 1):
            output(f"Step {number}/{len(lines)} : {line}")
            command = line.strip()
            if command in ("RUN false", "RUN exit 1") or command.startswith("RUN exit "):
                raise BuildFailed(
                    f"the build failed: The command '/bin/sh -c {command[4:]}' returned a "
                    "non-zero code: 1"
                )
        image = "sha256:" + hashlib.sha256(spec.context).hexdigest()
        output(f"Successfully built {image[7:19]}")
        output(f"Successfully tagged {spec.tag}")
        self.built.append(spec)
        if self.images is not None:
            self.images.add(spec.tag, files.get("Procfile"))
        return spec.tag

    def prune(self, app: str, keep: set[str]) -> None:
        self.pruned.append((app, keep))


def _files(context: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(context), mode="r:") as archive:
        for member in archive:
            extracted = archive.extractfile(member) if member.isfile() else None
            if extracted is not None:
                files[member.name.removeprefix("./")] = extracted.read()
    return files

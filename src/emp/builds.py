"""`emp deploy DIR`: upload a directory, let Empire build and release it, show the progress."""

from __future__ import annotations

import re
from pathlib import Path

from emp.session import Fail, Session
from emp.source import tarball

NAME = re.compile(r"[^a-z0-9-]+")


def source_directory(args: tuple[str, ...]) -> Path | None:
    """The directory to build: the argument when it is a directory, or with no argument the
    current one when it has a Dockerfile; None for an image deploy."""
    if args:
        candidate = Path(args[0])
        if not candidate.is_dir():
            return None
    else:
        candidate = Path.cwd()
        if not (candidate / "Dockerfile").is_file():
            return None
    if not (candidate / "Dockerfile").is_file():
        raise Fail(f"{args[0] if args else '.'} has no Dockerfile: Empire builds Dockerfiles")
    return candidate


def build_directory(s: Session, directory: Path) -> None:
    """Tar the directory, post it as a build of the app, render the build's stream."""
    from emp.commands.deploy import Renderer

    app = s.optional_app() or NAME.sub("-", directory.resolve().name.lower()).strip("-")
    if not app:
        raise Fail("no app specified: use -a APP")
    source = tarball(directory)
    renderer = Renderer(s.io.stdout, terminal=bool(s.io.stdout_tty))

    def send(message: str | None) -> None:
        renderer.render(s.client.build(app, source, message=message))

    s.write(send)

"""`emp deploy`: post an image and render the deploy stream like `docker pull`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from emp.builds import build_directory, source_directory
from emp.output import escape_cell, escape_controls
from emp.registry import command, flag
from emp.session import Fail, Session
from emp.transport import JSON

UP, CLEAR = "\x1b[{}A", "\x1b[2K\r"


@command(
    "deploy [<registry>]<image>:[<tag>] [-s] | deploy [<dir>]",
    "deploy a docker image, or build a directory and deploy it",
    """
Deploy is used to deploy a docker image to an app. Without an app
(-a or EMPAPP) the app is named after the image's repository and
created if needed. The command exits non-zero when the deploy fails
or its release is rolled back, and says why.

With a directory (one with a Dockerfile), or with no argument in
such a directory, the directory (less what its .dockerignore leaves
out) is uploaded, built by Empire and deployed to the app (-a, else
the app named after the directory, which must exist).

Options:

    -s  stream the scheduler's status while the new release rolls out

Examples:

    $ emp deploy remind101/acme-inc:latest
    latest: Pulling from remind101/acme-inc
    Status: Resolved remind101/acme-inc:latest to remind101/acme-inc@sha256:0daf...
    Status: Extracted Procfile from "/app/Procfile"
    Status: Created new release v1 for acme-inc
    Status: Finished processing events for release v1 of acme-inc
    Status: Release v1 of acme-inc succeeded
""",
    app="optional",
    message=True,
    options=[flag("-s", "--stream")],
)
def deploy(s: Session, args: tuple[str, ...], stream: bool) -> None:
    """Deploy an image, or build a directory and deploy it; show the progress."""
    directory = source_directory(args)
    if directory is not None:
        build_directory(s, directory)
        return
    if not args:
        raise Fail("You must specify an image to deploy")
    image, app = args[0], s.optional_app()
    renderer = Renderer(s.io.stdout, terminal=bool(s.io.stdout_tty))

    def send(message: str | None) -> None:
        """Post the deploy with a commit message and render its stream."""
        renderer.render(s.client.deploy(image, app=app, stream=stream, message=message))

    s.write(send)


class Renderer:
    """Print jsonmessages: plain lines, or docker-style updating progress lines on a terminal."""

    def __init__(self, out: TextIO, *, terminal: bool) -> None:
        self.out = out
        self.terminal = terminal
        self.lines: dict[str, int] = {}  # id -> line number, for progress lines on a terminal
        self.count = 0

    def render(self, messages: Iterable[JSON]) -> None:
        """Print every message; raise Fail at the first error message."""
        for message in messages:
            error = message.get("errorDetail") or {}
            if error or message.get("error"):
                text = error.get("message") if isinstance(error, dict) else None
                raise Fail(str(text or message.get("error") or "the deploy failed"))
            self.show(message)

    def show(self, message: JSON) -> None:
        """Print one message. On a terminal the server's text is shown with its control
        characters escaped (a status stays on its line): only the renderer's own cursor moves
        reach the terminal."""
        stream, line = (escape_controls, escape_cell) if self.terminal else (str, str)
        ident = str(message.get("id") or "")
        progress = line(_progress(message))
        if "stream" in message and "status" not in message:
            self.write(stream(str(message["stream"])))
            return
        if progress and not self.terminal:
            return  # progress bars only make sense on a terminal
        text = line((f"{ident}: " if ident else "") + str(message.get("status", "")))
        if not self.terminal:
            self.write(text + "\n")
            return
        if progress:
            text += " " + progress
        tracked = ident and ("progressDetail" in message or "progress" in message)
        if not tracked:
            self.write(text + "\n")
            return
        if ident not in self.lines:
            self.lines[ident] = self.count
            self.write(text + "\n")
            return
        up = self.count - self.lines[ident]
        self.out.write(UP.format(up) + CLEAR + text + f"\x1b[{up}B\r")
        self.out.flush()

    def write(self, text: str) -> None:
        """Write text, counting the lines written."""
        self.out.write(text)
        self.out.flush()
        self.count += text.count("\n")


def _progress(message: JSON) -> str:
    """Return the progress bar of a message, drawn from `progressDetail` when needed."""
    if message.get("progress"):
        return str(message["progress"])
    detail = message.get("progressDetail") or {}
    if not isinstance(detail, dict):
        return ""
    current, total = int(detail.get("current") or 0), int(detail.get("total") or 0)
    if total <= 0:
        return _size(current) if current > 0 else ""
    done = min(50, 50 * current // total)
    bar = "=" * done + (">" if done < 50 else "") + " " * max(0, 49 - done)
    return f"[{bar}] {_size(current)}/{_size(total)}"


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.4g}{unit}"
        value /= 1000
    return f"{value:.4g}GB"  # pragma: no cover

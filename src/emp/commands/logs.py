"""`emp log`: stream an app's log lines to stdout."""

from __future__ import annotations

import codecs

from emp.parsing import ParseError, parse_duration
from emp.registry import check_args, command, flag, option
from emp.session import Fail, Session
from emp.transport import JSON


@command(
    "log [-d <duration>] [-p <process>] [--tail]",
    "stream app log lines",
    """
Log prints the application log.

Options:

    -d <duration>  how far back to start reading (e.g. 10m, 1h30m)
    -p <process>   only this process type's lines (e.g. web, web.1), or the
                   platform's: api (writes), router (requests)
    --tail         keep following the log

Examples:

    $ emp log -a acme-inc -d 10m
    2013-10-17T00:17:35.066089+00:00 app[web.1]: Completed 302 Found in 0ms
    2013-10-17T00:17:35.066302Z acme-inc[router]: at=info method=GET path="/" ...
    ...
""",
    app="needs",
    alias="logs",
    options=[option("-d", "--duration"), option("-p", "--process"), flag("--tail")],
)
def log(
    s: Session, args: tuple[str, ...], duration: str | None, process: str | None, tail: bool
) -> None:
    """Copy the log stream to stdout."""
    check_args(args, 0, 0)
    name = s.app()
    body: JSON = {}
    if duration:
        try:
            body["duration"] = parse_duration(duration)
        except ParseError as exc:
            raise Fail(str(exc)) from exc
    if process:
        body["dyno"] = process
    if tail:
        body["tail"] = True
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    held = ""  # a CR at the end of a chunk waits: before a newline it is a line end
    for chunk in s.client.logs(name, body):
        text = held + decoder.decode(chunk.replace(b"\x00", b""))  # NUL bytes are keep-alives
        held = "\r" if text.endswith("\r") else ""
        text = text[: len(text) - len(held)]
        if text:
            s.out(text, end="")  # on a terminal, control characters are shown escaped
    s.out(held + decoder.decode(b"", final=True), end="")

"""Dynos: ps, scale, restart, run."""

from __future__ import annotations

import shlex

from emp import attach
from emp.output import maybe_quote, parse_time, pretty_duration
from emp.parsing import ParseError, normalize_size, parse_scale_arg
from emp.registry import check_args, command, flag, option
from emp.session import Exit, Session, UsageFail
from emp.transport import JSON


@command(
    "ps [<name>...]",
    "list processes",
    """
Lists processes. Shows the name, host, size, state, age, and command.
Name a process type (web) or a dyno (v1.web.1) to show only those.

Examples:

    $ emp ps
    v3.run.1  i-1234  2X  RUNNING   1m  bash
    v3.web.1  i-1234  1X  RUNNING  15h  "blog /app /tmp/dst"
    v3.web.2  i-5678  1X  RUNNING   8h  "blog /app /tmp/dst"
""",
    app="needs",
    json=True,
    alias="dynos",
)
def ps(s: Session, args: tuple[str, ...]) -> None:
    """List dynos, by type then number."""
    dynos = sorted(s.client.dynos(s.app()), key=_dyno_order)
    if args:
        dynos = [d for d in dynos if any(_selects(name, d) for name in args)]
    if s.json:
        s.print_json(dynos)
        return
    now = s.io.now()
    rows = []
    for dyno in dynos:
        updated = parse_time(dyno.get("updated_at"))
        rows.append(
            [
                str(dyno.get("name") or ""),
                str((dyno.get("host") or {}).get("id") or ""),
                str(dyno.get("size") or ""),
                str(dyno.get("state") or ""),
                pretty_duration(now - updated) if updated else "",
                maybe_quote(str(dyno.get("command") or "")),
            ]
        )
    s.table(rows)


def _dyno_order(dyno: JSON) -> tuple[str, int, str]:
    name = str(dyno.get("name") or "")
    last = name.rsplit(".", 1)[-1]
    return str(dyno.get("type") or ""), int(last) if last.isdigit() else 0, name


def _selects(name: str, dyno: JSON) -> bool:
    if "." in name:
        return name in (dyno.get("name"), dyno.get("id"))
    return bool(dyno.get("type") == name)


@command(
    "scale [-l] <type>=[<qty>]:[<size>]...",
    "change dyno quantities and sizes",
    """
Scale changes the quantity of dynos (horizontal scale) and/or the
dyno size (vertical scale) for each process type. Without a
quantity (web=:2X) the quantity stays as it is.

size is either a preset or cpu shares and memory, with an optional
process limit:

    1X: 256 cpu shares, 512mb of memory
    2X: 512 cpu shares, 1gb of memory
    PX: 1024 cpu shares, 6gb of memory
    <cpu_share>:<memory>[:nproc=<n>], e.g. 256:2gb or 512:1gb:nproc=64

Options:

    -l  display the current scale

Examples:

    $ emp scale web=2
    Scaled myapp to web=2:1X.

    $ emp scale web=2:1X worker=5:2X
    Scaled myapp to web=2:1X, worker=5:2X.

    $ emp scale worker=1:256:1gb:nproc=64
    Scaled myapp to worker=1:256:1.00gb:nproc=64.
""",
    app="needs",
    message=True,
    json=True,
    options=[flag("-l", "--list", "list_mode")],
)
def scale(s: Session, args: tuple[str, ...], list_mode: bool) -> None:
    """Scale process types, or list the formation with -l."""
    name = s.app()
    if list_mode:
        formation = sorted(s.client.formation(name), key=lambda f: str(f.get("type")))
        if s.json:
            s.print_json(formation)
        else:
            s.err(" ".join(_result(f) for f in formation))
        return
    check_args(args, 1)
    updates: list[JSON] = []
    for arg in args:
        try:
            parsed = parse_scale_arg(arg)
        except ParseError as exc:
            raise UsageFail(str(exc)) from exc
        if any(u["process"] == parsed.process for u in updates):
            raise UsageFail(f"process type '{parsed.process}' specified more than once")
        update: JSON = {"process": parsed.process}
        if parsed.quantity is not None:
            update["quantity"] = parsed.quantity
        if parsed.size is not None:
            update["size"] = parsed.size
        updates.append(update)
    formation = s.write(lambda message: s.client.scale(name, updates, message))
    formation.sort(key=lambda f: str(f.get("type")))
    if s.json:
        s.print_json(formation)
    s.err(f"Scaled {name} to {', '.join(_result(f) for f in formation)}.")


def _result(process: JSON) -> str:
    return f"{process.get('type')}={process.get('quantity')}:{process.get('size')}"


@command(
    "restart [<type or name>]",
    "restart dynos (or stop a dyno started with 'emp run')",
    """
Restart all app dynos, all dynos of a specific type, or a single dyno. If used
on a dyno started using 'emp run' this will effectively stop it.

Examples:

    $ emp restart
    Restarted all dynos for myapp.

    $ emp restart web
    Restarted web dynos for myapp.

    $ emp restart v3.web.1
    Restarted v3.web.1 dyno for myapp.
""",
    app="needs",
    message=True,
)
def restart(s: Session, args: tuple[str, ...]) -> None:
    """Restart the app, a process type or one dyno."""
    name = s.app()
    check_args(args, 0, 1)
    target = args[0] if args else None
    s.write(lambda message: s.client.restart(name, target, message))
    if target is None:
        s.err(f"Restarted all dynos for {name}.")
    elif "." in target:
        s.err(f"Restarted {target} dyno for {name}.")
    else:
        s.err(f"Restarted {target} dynos for {name}.")


@command(
    "run [-s <size>] [-d] <command> [<argument>...]",
    "run a process in a dyno",
    """
Run a one-off process. As with Empire's emp, emp's own flags (-a, -m,
-s, -d) are taken out of the command line even after the command
(emp run -d migration -a myapp); every other argument is passed to the
command. To pass one of those flags to the command, quote the command
or put it after -- (emp run -a myapp -- psql -d mydb).

Attached (the default), the process gets this terminal: its output
comes here, what you type goes to it, and emp exits with its exit
code. It also works without a terminal, with stdin and stdout piped.

Options:

    -s <size>  set the size for this dyno (e.g. 2X)
    -d         run in detached mode instead of attached to terminal

Examples:

    $ emp run bash
    $ echo 'select 1;' | emp run -a myapp -- psql "$DATABASE_URL"

    $ emp run -d -s 2X bin/my_worker
    Ran `bin/my_worker` on myapp as v3.run.1, detached.

    $ emp run -a myapp -d -- ls -a /
    Ran `ls -a /` on myapp as v3.run.2, detached.
""",
    app="needs",
    message=True,
    options=[option("-s", "--size"), flag("-d", "--detached")],
    interspersed=False,
)
def run(s: Session, args: tuple[str, ...], size: str | None, detached: bool) -> None:
    """Start a one-off process: attached to this terminal and exit code, or detached."""
    check_args(args, 1)
    name = s.app()
    command_line = args[0] if len(args) == 1 else shlex.join(args)
    body: JSON = {"command": command_line}
    if detached:
        body["attach"] = False
    if size:
        body["size"] = normalize_size(size)
    if not detached:
        code = s.write(lambda message: attach.run(s, name, body, message))
        if code:
            raise Exit(code)
        return
    dyno = s.write(lambda message: s.client.run(name, body, message))
    command_text = dyno.get("command") or command_line
    s.err(f"Ran `{command_text}` on {name} as {dyno.get('name')}, detached.")

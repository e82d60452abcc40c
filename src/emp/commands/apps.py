"""Apps: create, apps, info, rename, destroy, maintenance."""

from __future__ import annotations

from emp.output import go_quote, parse_time, pretty_time
from emp.registry import check_args, command, flag, option
from emp.session import Session, UsageFail
from emp.transport import JSON


@command(
    "create [-r <region>] [-o <org>] [--http-git] [<name>]",
    "create an app",
    """
Create creates a new app.

Options:

    -r <region>  region to create the app in (ignored by Empire)
    -o <org>     organization to create the app in (ignored by Empire)
    <name>       the name of the app

Examples:

    $ emp create myapp
    Created myapp.
""",
    message=True,
    json=True,
    options=[
        option("-r", "--region"),
        option("-o", "--org"),
        flag("--http-git"),
    ],
)
def create(
    s: Session, args: tuple[str, ...], region: str | None, org: str | None, http_git: bool
) -> None:
    """Create an app."""
    check_args(args, 0, 1)
    if not args:
        raise UsageFail("no app name given: emp create <name>")
    app = s.write(lambda message: s.client.create_app(args[0], message))
    if s.json:
        s.print_json(app)
    s.err(f"Created {app.get('name') or args[0]}.")


@command(
    "apps [<name>...]",
    "list apps",
    """
Lists apps. Shows the app name, the certificates attached to its
processes, and the last release time (or the time the app was
created, if it has never been released).

Examples:

    $ emp apps
    myapp              Jan  2 12:34
    myapp-eu  web=www  Jan  2 12:35

    $ emp apps myapp
    myapp  Jan  2 12:34
""",
    json=True,
    options=[option("-o", "--org")],
)
def apps(s: Session, args: tuple[str, ...], org: str | None) -> None:
    """List apps."""
    items = [s.client.app(name) for name in args] if args else s.client.apps()
    items.sort(key=lambda a: str(a.get("name", "")))
    if s.json:
        s.print_json(items)
        return
    now = s.io.now()
    rows = []
    for app in items:
        when = parse_time(app.get("released_at")) or parse_time(app.get("created_at"))
        rows.append([app["name"], _certs(app), pretty_time(when, now) if when else ""])
    s.table(rows)


def _certs(app: JSON) -> str:
    certs = app.get("certs") or {}
    if not certs and app.get("cert"):
        certs = {"web": app["cert"]}
    return ",".join(f"{process}={certs[process]}" for process in sorted(certs))


@command(
    "info", "show app info", "Info shows general information about an app.", app="needs", json=True
)
def info(s: Session, args: tuple[str, ...]) -> None:
    """Show an app."""
    check_args(args, 0, 0)
    app = s.client.app(s.app())
    if s.json:
        s.print_json(app)
        return
    s.out(f"Name: {app.get('name', '')}")
    s.out(f"ID: {app.get('id', '')}")
    s.out(f"Maintenance: {_mode(bool(app.get('maintenance')))}")
    s.out(f"Cert: {app.get('cert') or ''}")


@command(
    "rename <oldname> <newname>",
    "rename an app",
    """
Rename renames an app. Its releases, config and domains follow it.

Example:

    $ emp rename myapp myapp2
    Renamed myapp to myapp2.
    Ensure you update your git remote URL.
""",
    message=True,
)
def rename(s: Session, args: tuple[str, ...]) -> None:
    """Rename an app."""
    check_args(args, 2, 2)
    old, new = args
    app = s.write(lambda message: s.client.update_app(old, {"name": new}, message))
    s.err(f"Renamed {old} to {app.get('name') or new}.")
    s.err("Ensure you update your git remote URL.")


@command(
    "destroy <name>",
    "destroy an app",
    """
Destroy destroys an app. There is no going back, so be sure you
mean it. The command will prompt for confirmation, or accept
confirmation via stdin or --confirm.

Example:

    $ emp destroy myapp
    warning: This will destroy myapp and its add-ons. Please type "myapp" to continue:
    > myapp
    Destroyed myapp.

    $ echo myapp | emp destroy myapp
    Destroyed myapp.

    $ emp destroy myapp --confirm myapp
    Destroyed myapp.
""",
    message=True,
    options=[option("--confirm")],
)
def destroy(s: Session, args: tuple[str, ...], confirm: str | None) -> None:
    """Destroy an app after confirmation."""
    check_args(args, 1, 1)
    name = args[0]
    warning = f"This will destroy {name} and its add-ons. Please type {go_quote(name)} to continue:"
    s.confirm(warning, name, confirm)
    s.write(lambda message: s.client.destroy_app(name, message))
    s.err(f"Destroyed {name}.")


@command(
    "maintenance",
    "show app maintenance mode",
    """
Maintenance shows the current maintenance mode state of an app.

Example:

    $ emp maintenance -a myapp
    enabled
""",
    app="needs",
    json=True,
    extra=True,
)
def maintenance(s: Session, args: tuple[str, ...]) -> None:
    """Show whether maintenance mode is on."""
    check_args(args, 0, 0)
    app = s.client.app(s.app())
    if s.json:
        s.print_json({"name": app.get("name"), "maintenance": bool(app.get("maintenance"))})
        return
    s.out(_mode(bool(app.get("maintenance"))))


def _maintenance(s: Session, args: tuple[str, ...], enabled: bool) -> None:
    check_args(args, 0, 0)
    name = s.app()
    app = s.write(lambda m: s.client.update_app(name, {"maintenance": enabled}, m))
    verb = "Enabled" if enabled else "Disabled"
    s.err(f"{verb} maintenance mode on {app.get('name') or name}.")


@command(
    "maintenance-enable",
    "enable maintenance mode",
    """
Enables maintenance mode on an app: no instance runs until it is disabled.

Example:

    $ emp maintenance-enable -a myapp
    Enabled maintenance mode on myapp.
""",
    app="needs",
    message=True,
    extra=True,
)
def maintenance_enable(s: Session, args: tuple[str, ...]) -> None:
    """Enable maintenance mode."""
    _maintenance(s, args, True)


@command(
    "maintenance-disable",
    "disable maintenance mode",
    """
Disables maintenance mode on an app: its processes run again.

Example:

    $ emp maintenance-disable -a myapp
    Disabled maintenance mode on myapp.
""",
    app="needs",
    message=True,
    extra=True,
)
def maintenance_disable(s: Session, args: tuple[str, ...]) -> None:
    """Disable maintenance mode."""
    _maintenance(s, args, False)


def _mode(enabled: bool) -> str:
    return "enabled" if enabled else "disabled"

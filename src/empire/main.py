"""The `empire` command: server, migrate, users, tokens, teams, access, reconcile."""

from __future__ import annotations

import getpass
import logging
import sys

import click

from empire.core import Empire, utcnow
from empire.errors import EmpireError
from empire.model import User
from empire.reconciler import Reconciler
from empire.secrets import generate_key
from empire.settings import Settings
from empire.store import migrate as migrations
from empire.store.sql import SqlStore
from empire.webhooks import deliveries as list_deliveries
from empire.webhooks import retry as retry_deliveries
from empire.wiring import (
    build_api,
    build_dispatcher,
    build_empire,
    build_event_sink,
    build_router,
    build_store,
    build_webhook_secret,
    check_keys,
)

log = logging.getLogger("empire")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc


@click.group()
def cli() -> None:
    """Empire: a self-hosted platform-as-a-service speaking the Heroku Platform API."""


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8080).")
@click.option(
    "--migrate/--no-migrate",
    default=None,
    help="Migrate the database at start (default: on for SQLite).",
)
def server(host: str | None, port: int | None, migrate: bool | None) -> None:
    """Run the API server."""
    import uvicorn

    settings = _settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    listening = host or settings.host
    try:
        check_keys(settings, listening)  # one message naming every missing key
        store = build_store(settings, listening)
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc
    if settings.tls:
        for name, path in (
            ("EMPIRE_TLS_CERT", settings.tls_cert),
            ("EMPIRE_TLS_KEY", settings.tls_key),
        ):
            if path is None or not path.is_file():
                raise click.ClickException(f"{name}: there is no file {path}")
    elif not Settings.is_loopback(listening):
        log.warning(
            "listening on %s without TLS: API tokens travel in clear unless a TLS proxy is in "
            "front (set EMPIRE_TLS_CERT and EMPIRE_TLS_KEY to serve HTTPS)",
            listening,
        )
    if migrate if migrate is not None else settings.sqlite:
        migrations.upgrade(store.engine)
    try:
        store.check()
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc
    # On swarm the router is a container on the overlay that the reconciler starts.
    if settings.router == "caddy" and settings.scheduler != "swarm":
        from empire.router.caddy import ensure_caddy

        if ensure_caddy(settings.router_admin, settings.router_listen, settings.data_dir):
            log.info("started Caddy (admin %s), detached", settings.router_admin)
    router = build_router(settings)
    empire = build_empire(
        settings, store=store, router=router, events=build_event_sink(settings), host=listening
    )
    reconciler = Reconciler(empire, router, settings.reconcile_interval)
    reconciler.start(now=True)  # converges in the background: the API answers meanwhile
    dispatcher = build_dispatcher(settings, store, listening) if settings.webhooks else None
    if dispatcher is not None:
        dispatcher.start()  # sends webhook deliveries, first those a previous process left
    start_cron = getattr(empire.scheduler, "start_cron", None)
    if start_cron is not None:
        start_cron()
    try:
        uvicorn.run(
            build_api(settings, empire),
            host=host or settings.host,
            port=port or settings.port,
            log_level=settings.log_level,
            access_log=False,
            ssl_certfile=settings.tls_cert,
            ssl_keyfile=settings.tls_key,
        )
    finally:
        if dispatcher is not None:
            dispatcher.stop()
        reconciler.stop()
        close = getattr(empire.scheduler, "close", None)
        if close is not None:
            close()


@cli.command()
def migrate() -> None:
    """Migrate the database to the newest schema."""
    settings = _settings()
    store = build_store(settings)
    before = migrations.current(store.engine)
    migrations.upgrade(store.engine)
    after = migrations.current(store.engine)
    click.echo("Up to date" if before == after else f"Migrated from {before} to {after}")


@cli.group()
def users() -> None:
    """Manage users."""


@users.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user a global admin.")
@click.option("--email", default="", help="The user's e-mail address.")
@click.option("--password-stdin", is_flag=True, help="Read a password from stdin, for `emp login`.")
def users_create(name: str, admin: bool, email: str, password_stdin: bool) -> None:
    """Create a user; the new API token is the last line of stdout."""
    empire = _empire()
    password = _read_password() if password_stdin else None
    try:
        user, token = empire.create_user(name, admin=admin, email=email)
        if password is not None:
            empire.set_password(name, password)
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Created user {user.name}{' (admin)' if user.admin else ''}.")
    click.echo(token)


@users.command("password")
@click.argument("name")
def users_password(name: str) -> None:
    """Set a user's password, read from stdin."""
    try:
        _empire().set_password(name, _read_password())
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Set the password of {name}.")


@users.command("disable")
@click.argument("name")
def users_disable(name: str) -> None:
    """Disable a user: their tokens stop working and they cannot log in."""
    try:
        _empire().disable_user(name)
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Disabled {name}.")


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise click.ClickException("no password on stdin: pipe one in, e.g. from a file")
    return password


@users.command("list")
def users_list() -> None:
    """List users."""
    for user in _empire().users():
        click.echo(f"{user.name}\t{user.email}\t{'admin' if user.admin else ''}".rstrip())


@cli.group()
def tokens() -> None:
    """Manage API tokens."""


@tokens.command("create")
@click.argument("name")
@click.option("--description", default="", help="What the token is for.")
def tokens_create(name: str, description: str) -> None:
    """Issue a new API token for user NAME; the token is the last line of stdout."""
    try:
        click.echo(_empire().create_token(name, description))
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc


@cli.group()
def keys() -> None:
    """Manage the keys: EMPIRE_SECRET_KEY and EMPIRE_ENCRYPTION_KEY (config vars at rest)."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new random key, for EMPIRE_SECRET_KEY or EMPIRE_ENCRYPTION_KEY."""
    click.echo(generate_key())


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored config with the newest key.

    Set EMPIRE_ENCRYPTION_KEY=NEW,OLD (newest first), run this, then drop OLD.
    """
    settings = _settings()
    try:
        store = build_store(settings)
        count = store.rotate_config_keys()
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Re-encrypted {count} configs with the newest key.")


@cli.group()
def webhooks() -> None:
    """Webhook deliveries (EMPIRE_WEBHOOKS): list them, retry failed ones."""


@webhooks.command("deliveries")
@click.option("--failed", is_flag=True, help="Only deliveries that failed for good.")
@click.option("-n", "--number", type=int, default=100, help="How many, newest first.")
def webhooks_deliveries(failed: bool, number: int) -> None:
    """List webhook deliveries: id, state, attempts, event, URL, last error."""
    try:
        found = list_deliveries(_store(), failed=failed, limit=max(number, 1))
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc
    for d in found:
        click.echo(
            f"{d.id}\t{d.state}\t{d.attempts}\t{d.event_seq}\t{d.url}\t{d.last_error}".rstrip()
        )


@webhooks.command("retry")
@click.argument("ids", nargs=-1)
@click.option("--all-failed", is_flag=True, help="Retry every failed delivery.")
def webhooks_retry(ids: tuple[str, ...], all_failed: bool) -> None:
    """Queue deliveries IDS (or --all-failed) again; the server sends them within a second."""
    if bool(ids) == all_failed:
        raise click.UsageError("give delivery ids, or --all-failed")
    try:
        count = retry_deliveries(_store(), None if all_failed else ids, utcnow())
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc
    if ids and count < len(ids):
        raise click.ClickException(
            f"queued {count} of {len(ids)} deliveries: the others do not exist "
            "(see `empire webhooks deliveries`)"
        )
    click.echo(f"Queued {count} {'delivery' if count == 1 else 'deliveries'} again.")


@webhooks.command("secret")
def webhooks_secret() -> None:
    """Print the secret webhook signatures are made with, for receivers to verify them."""
    try:
        click.echo(build_webhook_secret(_settings()))
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc


@cli.group()
def teams() -> None:
    """Manage teams: a role granted to a team is every member's."""


def _operator() -> User:
    """Whoever runs `empire` on the server acts as a global admin; events name their login."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "empire"
    return User(id="", name=name, admin=True)


@teams.command("create")
@click.argument("name")
def teams_create(name: str) -> None:
    """Create team NAME."""
    try:
        team = _empire().create_team(name, by=_operator())
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Created team {team.name}.")


@teams.command("list")
def teams_list() -> None:
    """List teams and their members."""
    empire, by = _empire(), _operator()
    try:
        for team in empire.teams(by=by):
            _, members = empire.team_members(team.id, by=by)
            click.echo(f"{team.name}\t{' '.join(m.name for m in members)}".rstrip())
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc


@teams.command("add-member")
@click.argument("team")
@click.argument("user")
def teams_add_member(team: str, user: str) -> None:
    """Add USER (a name or e-mail address) to TEAM."""
    try:
        found, member = _empire().add_member(team, user, by=_operator())
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Added {member.name} to team {found.name}.")


@teams.command("remove-member")
@click.argument("team")
@click.argument("user")
def teams_remove_member(team: str, user: str) -> None:
    """Remove USER from TEAM."""
    try:
        found, member = _empire().remove_member(team, user, by=_operator())
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Removed {member.name} from team {found.name}.")


@teams.command("destroy")
@click.argument("team")
def teams_destroy(team: str) -> None:
    """Destroy TEAM; the roles granted to it go with it."""
    try:
        found = _empire().destroy_team(team, by=_operator())
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Destroyed team {found.name}.")


@cli.group()
def access() -> None:
    """Grant and revoke per-app roles (viewer, deployer, admin) from the server."""


@access.command("list")
@click.argument("app")
def access_list(app: str) -> None:
    """List who holds which role on APP."""
    try:
        grants = _empire().access(app, by=_operator())
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc
    for grant in grants:
        click.echo(f"{grant.subject}\t{grant.role}")


@access.command("grant")
@click.argument("app")
@click.argument("subject")
@click.argument("role", type=click.Choice(["viewer", "deployer", "admin"]))
def access_grant(app: str, subject: str, role: str) -> None:
    """Give SUBJECT (a user, or team:NAME) ROLE on APP."""
    try:
        grant = _empire().grant(app, subject, role, by=_operator())
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{grant.subject} is now a{'n' if role == 'admin' else ''} {role} of {app}.")


@access.command("revoke")
@click.argument("app")
@click.argument("subject")
def access_revoke(app: str, subject: str) -> None:
    """Take SUBJECT's role on APP away."""
    try:
        grant = _empire().revoke(app, subject, by=_operator())
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Revoked {grant.role} on {app} from {grant.subject}.")


@cli.command()
def reconcile() -> None:
    """Resubmit every app's current release to the scheduler."""
    click.echo(f"Resubmitted {_empire().reconcile()} apps.")


def _empire() -> Empire:
    settings = _settings()
    try:
        return build_empire(settings, store=_store(settings))
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc


def _store(settings: Settings | None = None) -> SqlStore:
    """The store for an admin command (SQLite is migrated first, as the server does)."""
    settings = settings or _settings()
    try:
        store = build_store(settings)
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc
    if settings.sqlite:
        migrations.upgrade(store.engine)
    return store


if __name__ == "__main__":
    sys.exit(cli())

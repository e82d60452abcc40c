"""The `empire` command: server, migrate, users, tokens, reconcile."""

from __future__ import annotations

import logging
import sys

import click

from empire.core import Empire
from empire.errors import EmpireError
from empire.reconciler import Reconciler
from empire.secrets import generate_key
from empire.settings import Settings
from empire.store import migrate as migrations
from empire.wiring import build_api, build_empire, build_router, build_store

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
    try:
        store = build_store(settings, host)
    except EmpireError as exc:
        raise click.ClickException(exc.message) from exc
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
    empire = build_empire(settings, store=store, router=router)
    reconciler = Reconciler(empire, router, settings.reconcile_interval)
    reconciler.start(now=True)  # converges in the background: the API answers meanwhile
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
        )
    finally:
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
    """Manage the key that encrypts config vars at rest."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new key, for EMPIRE_ENCRYPTION_KEY."""
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


@cli.command()
def reconcile() -> None:
    """Resubmit every app's current release to the scheduler."""
    click.echo(f"Resubmitted {_empire().reconcile()} apps.")


def _empire() -> Empire:
    settings = _settings()
    store = build_store(settings)
    if settings.sqlite:
        migrations.upgrade(store.engine)
    return build_empire(settings, store=store)


if __name__ == "__main__":
    sys.exit(cli())

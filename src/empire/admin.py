"""The server's admin commands: users, tokens, keys, webhooks, teams and access.

They act on the store directly (run them where the server runs, with its settings); `empire.main`
adds them to the `empire` command, which reports an EmpireError as the command's error.
"""

from __future__ import annotations

import getpass
import sys

import click

from empire.core import Empire, utcnow
from empire.model import User
from empire.secrets import generate_key
from empire.settings import Settings
from empire.store import migrate as migrations
from empire.store.sql import SqlStore
from empire.webhooks import deliveries as list_deliveries
from empire.webhooks import retry as retry_deliveries
from empire.wiring import build_empire, build_store, build_webhook_secret


def load_settings() -> Settings:
    """The settings, from the environment."""
    return Settings.from_env()


def open_empire() -> Empire:
    settings = load_settings()
    return build_empire(settings, store=open_store(settings))


def open_store(settings: Settings | None = None) -> SqlStore:
    """The store for an admin command (SQLite is migrated first, as the server does)."""
    settings = settings or load_settings()
    store = build_store(settings)
    if settings.sqlite:
        migrations.upgrade(store.engine, cipher=store.cipher)
    return store


@click.group()
def users() -> None:
    """Manage users."""


@users.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user a global admin.")
@click.option("--email", default="", help="The user's e-mail address.")
@click.option("--password-stdin", is_flag=True, help="Read a password from stdin, for `emp login`.")
def users_create(name: str, admin: bool, email: str, password_stdin: bool) -> None:
    """Create a user; the new API token is the last line of stdout."""
    empire = open_empire()
    password = _read_password() if password_stdin else None
    user, token = empire.create_user(name, admin=admin, email=email)
    if password is not None:
        empire.set_password(name, password)
    click.echo(f"Created user {user.name}{' (admin)' if user.admin else ''}.")
    click.echo(token)


@users.command("password")
@click.argument("name")
def users_password(name: str) -> None:
    """Set a user's password, read from stdin."""
    open_empire().set_password(name, _read_password())
    click.echo(f"Set the password of {name}.")


@users.command("disable")
@click.argument("name")
def users_disable(name: str) -> None:
    """Disable a user: their tokens stop working and they cannot log in."""
    open_empire().disable_user(name)
    click.echo(f"Disabled {name}.")


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise click.ClickException("no password on stdin: pipe one in, e.g. from a file")
    return password


@users.command("list")
def users_list() -> None:
    """List users."""
    for user in open_empire().users():
        click.echo(f"{user.name}\t{user.email}\t{'admin' if user.admin else ''}".rstrip())


@click.group()
def tokens() -> None:
    """Manage API tokens."""


@tokens.command("create")
@click.argument("name")
@click.option("--description", default="", help="What the token is for.")
def tokens_create(name: str, description: str) -> None:
    """Issue a new API token for user NAME; the token is the last line of stdout."""
    click.echo(open_empire().create_token(name, description))


@click.group()
def keys() -> None:
    """Manage the keys: EMPIRE_SECRET_KEY and EMPIRE_ENCRYPTION_KEY (config vars at rest)."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new random key, for EMPIRE_SECRET_KEY or EMPIRE_ENCRYPTION_KEY."""
    click.echo(generate_key())


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored config and certificate with the newest key.

    Set EMPIRE_ENCRYPTION_KEY=NEW,OLD (newest first), run this, then drop OLD.
    """
    settings = load_settings()
    store = build_store(settings)
    count = store.rotate_config_keys()
    apps = store.rotate_cert_keys()
    click.echo(f"Re-encrypted {count} configs and {apps} apps' certificates with the newest key.")


@click.group()
def webhooks() -> None:
    """Webhook deliveries (EMPIRE_WEBHOOKS): list them, retry failed ones."""


@webhooks.command("deliveries")
@click.option("--failed", is_flag=True, help="Only deliveries that failed for good.")
@click.option("-n", "--number", type=int, default=100, help="How many, newest first.")
def webhooks_deliveries(failed: bool, number: int) -> None:
    """List webhook deliveries: id, state, attempts, event, URL, last error."""
    found = list_deliveries(open_store(), failed=failed, limit=max(number, 1))
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
    count = retry_deliveries(open_store(), None if all_failed else ids, utcnow())
    if ids and count < len(ids):
        raise click.ClickException(
            f"queued {count} of {len(ids)} deliveries: the others do not exist "
            "(see `empire webhooks deliveries`)"
        )
    click.echo(f"Queued {count} {'delivery' if count == 1 else 'deliveries'} again.")


@webhooks.command("secret")
def webhooks_secret() -> None:
    """Print the secret webhook signatures are made with, for receivers to verify them."""
    click.echo(build_webhook_secret(load_settings()))


@click.group()
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
    team = open_empire().create_team(name, by=_operator())
    click.echo(f"Created team {team.name}.")


@teams.command("list")
def teams_list() -> None:
    """List teams and their members."""
    empire, by = open_empire(), _operator()
    for team in empire.teams(by=by):
        _, members = empire.team_members(team.id, by=by)
        click.echo(f"{team.name}\t{' '.join(m.name for m in members)}".rstrip())


@teams.command("add-member")
@click.argument("team")
@click.argument("user")
def teams_add_member(team: str, user: str) -> None:
    """Add USER (a name or e-mail address) to TEAM."""
    found, member = open_empire().add_member(team, user, by=_operator())
    click.echo(f"Added {member.name} to team {found.name}.")


@teams.command("remove-member")
@click.argument("team")
@click.argument("user")
def teams_remove_member(team: str, user: str) -> None:
    """Remove USER from TEAM."""
    found, member = open_empire().remove_member(team, user, by=_operator())
    click.echo(f"Removed {member.name} from team {found.name}.")


@teams.command("destroy")
@click.argument("team")
def teams_destroy(team: str) -> None:
    """Destroy TEAM; the roles granted to it go with it."""
    found = open_empire().destroy_team(team, by=_operator())
    click.echo(f"Destroyed team {found.name}.")


@click.group()
def access() -> None:
    """Grant and revoke per-app roles (viewer, deployer, admin) from the server."""


@access.command("list")
@click.argument("app")
def access_list(app: str) -> None:
    """List who holds which role on APP."""
    grants = open_empire().access(app, by=_operator())
    for grant in grants:
        click.echo(f"{grant.subject}\t{grant.role}")


@access.command("grant")
@click.argument("app")
@click.argument("subject")
@click.argument("role", type=click.Choice(["viewer", "deployer", "admin"]))
def access_grant(app: str, subject: str, role: str) -> None:
    """Give SUBJECT (a user, or team:NAME) ROLE on APP."""
    grant = open_empire().grant(app, subject, role, by=_operator())
    click.echo(f"{grant.subject} is now a{'n' if role == 'admin' else ''} {role} of {app}.")


@access.command("revoke")
@click.argument("app")
@click.argument("subject")
def access_revoke(app: str, subject: str) -> None:
    """Take SUBJECT's role on APP away."""
    grant = open_empire().revoke(app, subject, by=_operator())
    click.echo(f"Revoked {grant.role} on {app} from {grant.subject}.")

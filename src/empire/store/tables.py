"""SQLAlchemy Core tables: the source of truth Alembic's migrations follow."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class OutputText(TypeDecorator[str]):
    """Text that may come from a process (a release phase's lines, a crashed container's last
    log lines in a verdict's reason): a NUL, which PostgreSQL's text refuses, is kept as
    U+FFFD, on SQLite alike."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return value.replace("\x00", "\ufffd") if value else value


users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("email", String(255), nullable=False, server_default=""),
    Column("admin", Boolean, nullable=False, server_default=text("false")),
    Column("password_hash", String(255)),
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("description", String(255), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

apps = Table(
    "apps",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("repo", String(512)),
    Column("exposure", String(16), nullable=False, server_default="private"),
    Column("maintenance", Boolean, nullable=False, server_default=text("false")),
    # {process: certificate}; with a cipher, encrypted at rest ({"fernet": token}) as config
    # vars are: PEM certificates carry their private keys.
    Column("certs", JSON, nullable=False),
    # The current config: configs are immutable snapshots, this points at the newest.
    Column("config_id", String(36)),
    Column("released_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
    Index(
        "apps_name_live",
        "name",
        unique=True,
        sqlite_where=text("deleted_at IS NULL"),
        postgresql_where=text("deleted_at IS NULL"),
    ),
)

configs = Table(
    "configs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("app_id", String(36), ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    Column("vars", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("configs_app_created", "app_id", "created_at"),
)

slugs = Table(
    "slugs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("image", String(1024), nullable=False),
    Column("procfile", LargeBinary, nullable=False),
)

releases = Table(
    "releases",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("app_id", String(36), ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("config_id", String(36), ForeignKey("configs.id"), nullable=False),
    Column("slug_id", String(36), ForeignKey("slugs.id"), nullable=False),
    Column("formation", JSON, nullable=False),
    Column("description", OutputText, nullable=False),
    Column("user_id", String(36)),
    Column("user_name", String(64)),
    Column("user_email", String(255)),
    Column("message", OutputText),
    Column("outcome", String(16), nullable=False, server_default="pending"),
    Column("reason", OutputText, nullable=False, server_default=""),
    # The release phase: "" (none), running, succeeded or failed, and its output's last lines.
    Column("phase", String(16), nullable=False, server_default=""),
    Column("phase_output", OutputText, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_id", "version", name="releases_app_version"),
)

domains = Table(
    "domains",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("app_id", String(36), ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    Column("hostname", String(255), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("domains_app", "app_id"),
)

events = Table(
    "events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # the order they happened in
    Column("kind", String(32), nullable=False),
    Column("user_name", String(64), nullable=False),
    # The app it happened to, by id (its audit trail is read by id: names are reused), and
    # its name then, for display. No foreign key: events outlive what they describe.
    Column("app_id", String(36)),
    Column("app_name", String(64)),
    Column("text", OutputText, nullable=False),
    Column("message", OutputText),
    Column("data", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("request_id", String(64)),
    Index("events_app", "app_id", "seq"),
)

teams = Table(
    "teams",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

team_members = Table(
    "team_members",
    metadata,
    Column("team_id", String(36), ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Index("team_members_user", "user_id"),
)

# A role on one app, granted to a user or to a team (exactly one of the two).
grants = Table(
    "grants",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("app_id", String(36), ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE")),
    Column("team_id", String(36), ForeignKey("teams.id", ondelete="CASCADE")),
    Column("role", String(16), nullable=False),  # viewer | deployer | admin
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("app_id", "user_id", name="grants_app_user"),
    UniqueConstraint("app_id", "team_id", name="grants_app_team"),
    CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="grants_one_subject"),
    Index("grants_user", "user_id"),
    Index("grants_team", "team_id"),
)

# One event's delivery to one webhook URL: retried with backoff, kept when it failed for good.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("event_seq", Integer, nullable=False),
    Column("url", String(2048), nullable=False),
    Column("body", Text, nullable=False),  # the JSON document as signed and sent
    Column("state", String(16), nullable=False, server_default="pending"),  # delivered | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("deliveries_due", "state", "next_attempt_at"),
)

# A build from source (`empire.builds`): its source, status, output and the release it made.
builds = Table(
    "builds",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("app_id", String(36), ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),  # pending | succeeded | failed
    Column("user_id", String(36)),
    Column("user_name", String(64), nullable=False, server_default=""),
    Column("commit", String(64), nullable=False, server_default=""),
    Column("checksum", String(80), nullable=False, server_default=""),
    Column("source_bytes", Integer, nullable=False, server_default="0"),
    Column("image", String(1024), nullable=False, server_default=""),
    Column("release_id", String(36)),
    Column("release_version", Integer),
    Column("output", OutputText, nullable=False, server_default=""),
    Column("reason", OutputText, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("builds_app_created", "app_id", "created_at"),
)

# An app's log drains: where its log lines are forwarded (`empire.drains`).
drains = Table(
    "drains",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("app_id", String(36), ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("drains_app", "app_id"),
)

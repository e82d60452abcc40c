"""Initial schema: users, tokens, apps, configs, slugs, releases, domains.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("email", sa.String(255), nullable=False, server_default=""),
        sa.Column("admin", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("description", sa.String(255), nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS),
        sa.Column("revoked_at", TS),
    )
    op.create_table(
        "apps",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("repo", sa.String(512)),
        sa.Column("exposure", sa.String(16), nullable=False, server_default="private"),
        sa.Column("maintenance", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("certs", sa.JSON, nullable=False),
        sa.Column("config_id", sa.String(36)),
        sa.Column("released_at", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("deleted_at", TS),
    )
    op.create_index(
        "apps_name_live",
        "apps",
        ["name"],
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "configs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "app_id", sa.String(36), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("vars", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("configs_app_created", "configs", ["app_id", "created_at"])
    op.create_table(
        "slugs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("image", sa.String(1024), nullable=False),
        sa.Column("procfile", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "releases",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "app_id", sa.String(36), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("config_id", sa.String(36), sa.ForeignKey("configs.id"), nullable=False),
        sa.Column("slug_id", sa.String(36), sa.ForeignKey("slugs.id"), nullable=False),
        sa.Column("formation", sa.JSON, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("user_id", sa.String(36)),
        sa.Column("user_name", sa.String(64)),
        sa.Column("user_email", sa.String(255)),
        sa.Column("message", sa.Text),
        sa.Column("outcome", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("app_id", "version", name="releases_app_version"),
    )
    op.create_table(
        "domains",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "app_id", sa.String(36), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("hostname", sa.String(255), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("domains_app", "domains", ["app_id"])


def downgrade() -> None:
    for table in ("domains", "releases", "slugs", "configs", "apps", "tokens", "users"):
        op.drop_table(table)

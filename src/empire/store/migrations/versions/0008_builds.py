"""Builds from source: one row per build, with its bounded output and the release it made.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "builds",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "app_id", sa.String(36), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(36)),
        sa.Column("user_name", sa.String(64), nullable=False, server_default=""),
        sa.Column("commit", sa.String(64), nullable=False, server_default=""),
        sa.Column("checksum", sa.String(80), nullable=False, server_default=""),
        sa.Column("source_bytes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("image", sa.String(1024), nullable=False, server_default=""),
        sa.Column("release_id", sa.String(36)),
        sa.Column("release_version", sa.Integer),
        sa.Column("output", sa.Text, nullable=False, server_default=""),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("builds_app_created", "builds", ["app_id", "created_at"])


def downgrade() -> None:
    op.drop_index("builds_app_created", "builds")
    op.drop_table("builds")

"""Audit events: every write, who, what, when and the commit message.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("app_name", sa.String(64)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("events_app_created", "events", ["app_name", "created_at"])


def downgrade() -> None:
    op.drop_table("events")

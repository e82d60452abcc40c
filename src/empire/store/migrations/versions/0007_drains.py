"""Log drains: where each app's log lines are forwarded.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "drains",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "app_id", sa.String(36), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("drains_app", "drains", ["app_id"])


def downgrade() -> None:
    op.drop_index("drains_app", table_name="drains")
    op.drop_table("drains")

"""The release phase of each release: how it went, and the last of its output.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.add_column(sa.Column("phase", sa.String(16), nullable=False, server_default=""))
        batch.add_column(sa.Column("phase_output", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("phase_output")
        batch.drop_column("phase")

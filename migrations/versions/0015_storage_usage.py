"""storage_usage: how many bytes each site's data takes, measured by the retention pass

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "storage_usage",
        sa.Column("hydrophone_id", sa.String(64), sa.ForeignKey("hydrophones.id"), primary_key=True),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("days", sa.Float(), nullable=False),
        sa.Column("bytes", postgresql.JSONB(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("storage_usage")

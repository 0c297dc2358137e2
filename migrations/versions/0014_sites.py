"""sites: hydrophones gain sensitivity, audio source, active and updated_at (managed on the Sites page)

Sites are managed in the app rather than fixed by HYDROPHONE_* settings.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("hydrophones", sa.Column("sensitivity_db", sa.Float(), nullable=True))
    # NULL: the site follows the INGEST_* settings (the seeded site, and every site from before this
    # revision, keep doing what they did) until someone sets its source on the Sites page.
    op.add_column("hydrophones", sa.Column("source", postgresql.JSONB(), nullable=True))
    op.add_column("hydrophones", sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column("hydrophones", sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()))


def downgrade() -> None:
    for column in ("updated_at", "active", "source", "sensitivity_db"):
        op.drop_column("hydrophones", column)

"""windows.published_at: the outbox, so a window stored while the broker was away is published when it returns

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('windows', sa.Column('published_at', sa.DateTime(timezone=True), nullable=True))
    # Rows stored before the outbox existed were published by the code that stored them.
    op.execute("update windows set published_at = created_at")
    op.create_index('ix_windows_unpublished', 'windows', ['id'], postgresql_where=sa.text('published_at is null'))


def downgrade() -> None:
    op.drop_index('ix_windows_unpublished', table_name='windows')
    op.drop_column('windows', 'published_at')

"""truth labels keep their buffer vessels; GIN index for relabelling by vessel

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('truth_labels', sa.Column('buffer_vessels', postgresql.ARRAY(sa.BigInteger()),
                                            server_default='{}', nullable=False))
    op.create_index('ix_truth_labels_vessels', 'truth_labels', ['vessels'], postgresql_using='gin')


def downgrade() -> None:
    op.drop_index('ix_truth_labels_vessels', table_name='truth_labels')
    op.drop_column('truth_labels', 'buffer_vessels')

"""feedback on predictions; uploaded clips kept with their results

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'prediction_feedback',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('prediction_id', sa.BigInteger(), nullable=False),
        sa.Column('model_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('verdict', sa.String(length=8), nullable=False),
        sa.Column('classes', postgresql.ARRAY(sa.String(length=16)), server_default='{}', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("verdict in ('correct','wrong')", name=op.f('ck_prediction_feedback_verdict_valid')),
        sa.ForeignKeyConstraint(['prediction_id'], ['predictions.id'], ondelete='CASCADE',
                                name=op.f('fk_prediction_feedback_prediction_id_predictions')),
        sa.ForeignKeyConstraint(['model_id'], ['models.id'], ondelete='CASCADE',
                                name=op.f('fk_prediction_feedback_model_id_models')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_prediction_feedback_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_prediction_feedback')),
        sa.UniqueConstraint('prediction_id', 'user_id', name=op.f('uq_prediction_feedback_prediction_id')),
    )
    op.create_index('ix_prediction_feedback_model_id', 'prediction_feedback', ['model_id'])
    op.create_table(
        'uploads',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('path', sa.Text(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('duration_s', sa.Float(), nullable=False),
        sa.Column('sample_rate', sa.Integer(), nullable=False),
        sa.Column('channels', sa.SmallInteger(), nullable=False),
        sa.Column('results', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='SET NULL', name=op.f('fk_uploads_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_uploads')),
    )


def downgrade() -> None:
    op.drop_table('uploads')
    op.drop_index('ix_prediction_feedback_model_id', table_name='prediction_feedback')
    op.drop_table('prediction_feedback')

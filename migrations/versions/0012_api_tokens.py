"""api_tokens: several named tokens per user, with scope, expiry, last use and revocation

Each user's single users.api_token_hash moves into api_tokens (name 'default', scope write), so
tokens issued before keep working; the column is dropped.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'api_tokens',
        sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('token_hash', sa.String(length=128), nullable=False),
        sa.Column('scope', sa.String(length=8), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("scope in ('read','write')", name=op.f('ck_api_tokens_scope_valid')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash')),
    )
    op.create_index(op.f('ix_api_tokens_user_id'), 'api_tokens', ['user_id'], unique=False)
    op.execute("insert into api_tokens (user_id, name, token_hash, scope) "
               "select id, 'default', api_token_hash, 'write' from users where api_token_hash is not null")
    op.drop_column('users', 'api_token_hash')


def downgrade() -> None:
    op.add_column('users', sa.Column('api_token_hash', sa.String(length=128), nullable=True))
    op.create_unique_constraint(op.f('uq_users_api_token_hash'), 'users', ['api_token_hash'])
    # one token per user fits the old column: the newest write token still valid
    op.execute("update users u set api_token_hash = t.token_hash from ("
               " select distinct on (user_id) user_id, token_hash from api_tokens"
               " where scope = 'write' and revoked_at is null and (expires_at is null or expires_at > now())"
               " order by user_id, created_at desc, id desc) t where t.user_id = u.id")
    op.drop_index(op.f('ix_api_tokens_user_id'), table_name='api_tokens')
    op.drop_table('api_tokens')

"""daily scoring tallies and uncertainty bins, and triggers that mark the days whose predictions or labels changed

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# one statement-level trigger per table and event, seeing the changed rows as the transition table `changed`
TRIGGERS = [(table, event) for table in ('predictions', 'truth_labels', 'human_labels')
            for event in ('insert', 'update', 'delete')]


def upgrade() -> None:
    op.create_table('score_daily',
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('radius_km', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('hydrophone_id', sa.String(length=64), nullable=False),
    sa.Column('truth', sa.String(length=16), nullable=False),
    sa.Column('predicted', sa.String(length=16), nullable=False),
    sa.Column('conf_bin', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('conf_sum', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_score_daily_model_id_models'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', 'radius_km', 'day', 'hydrophone_id', 'truth', 'predicted', 'conf_bin',
                            name=op.f('pk_score_daily'))
    )
    op.create_table('uncertainty_daily',
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('radius_km', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('hydrophone_id', sa.String(length=64), nullable=False),
    sa.Column('measure', sa.String(length=24), nullable=False),
    sa.Column('bin', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('correct', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_uncertainty_daily_model_id_models'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', 'radius_km', 'day', 'hydrophone_id', 'measure', 'bin',
                            name=op.f('pk_uncertainty_daily'))
    )
    op.create_table('score_dirty',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('marked_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_score_dirty'))
    )
    op.execute("""
        create function mark_score_dirty() returns trigger language plpgsql as $$
        begin
            insert into score_dirty (day)
            select distinct (w.start_time at time zone 'UTC')::date from changed c join windows w on w.id = c.window_id
            on conflict (day) do update set marked_at = clock_timestamp();
            return null;
        end $$""")
    for table, event in TRIGGERS:
        transition = 'old' if event == 'delete' else 'new'
        op.execute(f"create trigger score_dirty_{table}_{event} after {event} on {table} "
                   f"referencing {transition} table as changed for each statement execute function mark_score_dirty()")


def downgrade() -> None:
    for table, event in TRIGGERS:
        op.execute(f"drop trigger score_dirty_{table}_{event} on {table}")
    op.execute("drop function mark_score_dirty()")
    op.drop_table('score_dirty')
    op.drop_table('uncertainty_daily')
    op.drop_table('score_daily')

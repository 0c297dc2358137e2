"""vessel_classes: one SQL view for the vessel-class rule (a per-vessel override, else the ship-type mapping)

The truth labeller and the live map both ask "what class is this vessel"; the view answers it in one
place so the two can never disagree.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("create view vessel_classes as"
               " select v.mmsi, coalesce(o.class_code, m.class_code) as class_code"
               " from vessels v"
               " left join vessel_class_overrides o on o.mmsi = v.mmsi"
               " left join class_mappings m on m.ship_type = v.ship_type")


def downgrade() -> None:
    op.execute("drop view vessel_classes")

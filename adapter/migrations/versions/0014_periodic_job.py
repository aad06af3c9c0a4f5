"""periodic jobs (trash purge, routine validity): lock and last run

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 13:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('periodic_job',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('locked_by', sa.String(length=80), nullable=True),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_started', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_finished', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_success', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_status', sa.String(length=16), nullable=True),
    sa.Column('last_detail', sa.String(length=200), nullable=True),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_periodic_job'))
    )


def downgrade() -> None:
    op.drop_table('periodic_job')

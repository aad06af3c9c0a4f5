"""bench baseline table

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 01:04:12.317468
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bench_baseline',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bench_baseline'))
    )


def downgrade() -> None:
    op.drop_table('bench_baseline')

"""subscription events name the version of the item's Task they are about

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 13:10:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: events numbered before this revision name no version (their Task is served as it is now).
    with op.batch_alter_table('subscription_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('subscription_event', schema=None) as batch_op:
        batch_op.drop_column('version')

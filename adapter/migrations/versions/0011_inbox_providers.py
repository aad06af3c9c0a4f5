"""care providers in the routing read model (MC-R3)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 08:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.orm import Session


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbox_directory', schema=None) as batch_op:
        batch_op.add_column(sa.Column('providers', sa.String(length=400), server_default='', nullable=False))
    # Every inbox's providers come from the stored directory (organisation numbers, partOf).
    from adapter.directory.readmodel import rebuild_all

    session = Session(bind=op.get_bind())
    rebuild_all(session)
    session.flush()


def downgrade() -> None:
    with op.batch_alter_table('inbox_directory', schema=None) as batch_op:
        batch_op.drop_column('providers')

"""directory read model for routing

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 01:12:14.407747
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbox_directory',
    sa.Column('reference', sa.String(length=130), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('party', sa.String(length=20), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=True),
    sa.Column('organization_hsa_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('reference', name=op.f('pk_inbox_directory'))
    )
    op.create_table('inbox_membership',
    sa.Column('inbox', sa.String(length=130), nullable=False),
    sa.Column('practitioner_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('inbox', 'practitioner_id', name=op.f('pk_inbox_membership'))
    )


    # The backfill from the stored directory runs in 0011, which rebuilds the read model with
    # the columns of today's code (running today's rebuild here would write columns that do not
    # exist yet at this revision).


def downgrade() -> None:
    op.drop_table('inbox_membership')
    op.drop_table('inbox_directory')

"""audit entities

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 01:23:43.565402
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_entity',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=400), nullable=False),
    sa.Column('recorded', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_audit_entity'))
    )
    with op.batch_alter_table('audit_entity', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entity_lookup', ['entity', 'recorded', 'event_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('audit_entity', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entity_lookup')

    op.drop_table('audit_entity')

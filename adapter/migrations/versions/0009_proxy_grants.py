"""proxy grants

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 01:58:14.697736
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('proxy_grant',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('principal_id', sa.String(length=64), nullable=False),
    sa.Column('proxy_id', sa.String(length=64), nullable=False),
    sa.Column('start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('granted_by', sa.String(length=64), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=False),
    sa.Column('acknowledged_operations', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proxy_grant'))
    )
    with op.batch_alter_table('proxy_grant', schema=None) as batch_op:
        batch_op.create_index('ix_proxy_grant_principal', ['principal_id'], unique=False)
        batch_op.create_index('ix_proxy_grant_proxy', ['proxy_id', 'principal_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('proxy_grant', schema=None) as batch_op:
        batch_op.drop_index('ix_proxy_grant_proxy')
        batch_op.drop_index('ix_proxy_grant_principal')

    op.drop_table('proxy_grant')

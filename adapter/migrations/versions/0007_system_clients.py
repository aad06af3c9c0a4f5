"""system clients and used assertions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 01:19:43.272332
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('auth_client',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('organization_hsa_id', sa.String(length=64), nullable=False),
    sa.Column('jwks', sa.Text(), nullable=False),
    sa.Column('scopes', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('client_id', name=op.f('pk_auth_client'))
    )
    op.create_table('auth_used_assertion',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('jti', sa.String(length=255), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('client_id', 'jti', name=op.f('pk_auth_used_assertion'))
    )
    with op.batch_alter_table('auth_used_assertion', schema=None) as batch_op:
        batch_op.create_index('ix_auth_used_assertion_expiry', ['expires_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('auth_used_assertion', schema=None) as batch_op:
        batch_op.drop_index('ix_auth_used_assertion_expiry')

    op.drop_table('auth_used_assertion')
    op.drop_table('auth_client')

"""initial schema: resource store, search indexes, unique identifiers, settings

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 00:33:00.553360
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('resource',
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('last_updated', sa.DateTime(timezone=True), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('resource_type', 'id', name=op.f('pk_resource'))
    )
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.create_index('ix_resource_type_last_updated', ['resource_type', 'last_updated', 'id'], unique=False)

    op.create_table('resource_version',
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('last_updated', sa.DateTime(timezone=True), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('resource_type', 'id', 'version', name=op.f('pk_resource_version'))
    )
    op.create_table('search_reference',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=64), nullable=False),
    sa.Column('target_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_search_reference'))
    )
    with op.batch_alter_table('search_reference', schema=None) as batch_op:
        batch_op.create_index('ix_search_reference_lookup', ['resource_type', 'param', 'target_id', 'target_type', 'resource_id'], unique=False)
        batch_op.create_index('ix_search_reference_owner', ['resource_type', 'resource_id', 'param'], unique=False)

    op.create_table('search_token',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('system', sa.String(length=255), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_search_token'))
    )
    with op.batch_alter_table('search_token', schema=None) as batch_op:
        batch_op.create_index('ix_search_token_lookup', ['resource_type', 'param', 'value', 'system', 'resource_id'], unique=False)
        batch_op.create_index('ix_search_token_owner', ['resource_type', 'resource_id'], unique=False)

    op.create_table('setting',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_setting'))
    )
    op.create_table('unique_identifier',
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('system', sa.String(length=255), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('resource_type', 'system', 'value', name=op.f('pk_unique_identifier'))
    )
    with op.batch_alter_table('unique_identifier', schema=None) as batch_op:
        batch_op.create_index('ix_unique_identifier_owner', ['resource_type', 'resource_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('unique_identifier', schema=None) as batch_op:
        batch_op.drop_index('ix_unique_identifier_owner')

    op.drop_table('unique_identifier')
    op.drop_table('setting')
    with op.batch_alter_table('search_token', schema=None) as batch_op:
        batch_op.drop_index('ix_search_token_owner')
        batch_op.drop_index('ix_search_token_lookup')

    op.drop_table('search_token')
    with op.batch_alter_table('search_reference', schema=None) as batch_op:
        batch_op.drop_index('ix_search_reference_owner')
        batch_op.drop_index('ix_search_reference_lookup')

    op.drop_table('search_reference')
    op.drop_table('resource_version')
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.drop_index('ix_resource_type_last_updated')

    op.drop_table('resource')

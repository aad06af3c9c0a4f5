"""messaging: date index, duplicate keys, threads, journal forwarding

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 00:49:51.623567
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('journal_forward',
    sa.Column('communication_id', sa.String(length=64), nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('communication_id', name=op.f('pk_journal_forward'))
    )
    with op.batch_alter_table('journal_forward', schema=None) as batch_op:
        batch_op.create_index('ix_journal_forward_pending', ['state', 'queued_at'], unique=False)

    op.create_table('message_key',
    sa.Column('sender', sa.String(length=130), nullable=False),
    sa.Column('system', sa.String(length=255), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.Column('communication_id', sa.String(length=64), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('sender', 'system', 'value', name=op.f('pk_message_key'))
    )
    op.create_table('message_thread',
    sa.Column('communication_id', sa.String(length=64), nullable=False),
    sa.Column('thread_id', sa.String(length=64), nullable=False),
    sa.Column('save_to_journal', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('communication_id', name=op.f('pk_message_thread'))
    )
    with op.batch_alter_table('message_thread', schema=None) as batch_op:
        batch_op.create_index('ix_message_thread_thread', ['thread_id', 'save_to_journal'], unique=False)

    op.create_table('search_date',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_search_date'))
    )
    with op.batch_alter_table('search_date', schema=None) as batch_op:
        batch_op.create_index('ix_search_date_lookup', ['resource_type', 'param', 'start', 'resource_id'], unique=False)
        batch_op.create_index('ix_search_date_owner', ['resource_type', 'resource_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('search_date', schema=None) as batch_op:
        batch_op.drop_index('ix_search_date_owner')
        batch_op.drop_index('ix_search_date_lookup')

    op.drop_table('search_date')
    with op.batch_alter_table('message_thread', schema=None) as batch_op:
        batch_op.drop_index('ix_message_thread_thread')

    op.drop_table('message_thread')
    op.drop_table('message_key')
    with op.batch_alter_table('journal_forward', schema=None) as batch_op:
        batch_op.drop_index('ix_journal_forward_pending')

    op.drop_table('journal_forward')

"""one message row for key and thread

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 01:16:38.629004
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('message',
    sa.Column('communication_id', sa.String(length=64), nullable=False),
    sa.Column('sender', sa.String(length=130), nullable=False),
    sa.Column('system', sa.String(length=255), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('thread_id', sa.String(length=64), nullable=False),
    sa.Column('save_to_journal', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('communication_id', name=op.f('pk_message')),
    sa.UniqueConstraint('sender', 'system', 'value', name='uq_message_sender_key')
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index('ix_message_thread', ['thread_id', 'save_to_journal'], unique=False)

    # Carry the stored messages over: one row each, with its thread (itself when it had none).
    op.execute(
        "INSERT INTO message (communication_id, sender, system, value, content_hash, thread_id, save_to_journal) "
        "SELECT k.communication_id, k.sender, k.system, k.value, k.content_hash, "
        "COALESCE(t.thread_id, k.communication_id), COALESCE(t.save_to_journal, FALSE) "
        "FROM message_key k LEFT JOIN message_thread t ON t.communication_id = k.communication_id"
    )
    op.drop_table('message_key')
    with op.batch_alter_table('message_thread', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_thread_thread'))

    op.drop_table('message_thread')


def downgrade() -> None:
    op.create_table('message_thread',
    sa.Column('communication_id', sa.VARCHAR(length=64), nullable=False),
    sa.Column('thread_id', sa.VARCHAR(length=64), nullable=False),
    sa.Column('save_to_journal', sa.BOOLEAN(), nullable=False),
    sa.PrimaryKeyConstraint('communication_id', name=op.f('pk_message_thread'))
    )
    with op.batch_alter_table('message_thread', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_thread_thread'), ['thread_id', 'save_to_journal'], unique=False)

    op.create_table('message_key',
    sa.Column('sender', sa.VARCHAR(length=130), nullable=False),
    sa.Column('system', sa.VARCHAR(length=255), nullable=False),
    sa.Column('value', sa.VARCHAR(length=255), nullable=False),
    sa.Column('communication_id', sa.VARCHAR(length=64), nullable=False),
    sa.Column('content_hash', sa.VARCHAR(length=64), nullable=False),
    sa.PrimaryKeyConstraint('sender', 'system', 'value', name=op.f('pk_message_key'))
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_thread')

    op.drop_table('message')

"""subscriptions: their state and secrets, their numbered events, the notifier's feed cursor

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 12:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('subscription_state',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('subscriber', sa.Text(), nullable=False),
    sa.Column('subscriber_key', sa.String(length=200), nullable=False),
    sa.Column('owner', sa.String(length=130), nullable=False),
    sa.Column('codes', sa.String(length=400), nullable=True),
    sa.Column('statuses', sa.String(length=200), nullable=True),
    sa.Column('endpoint', sa.String(length=2000), nullable=False),
    sa.Column('headers', sa.Text(), nullable=False),
    sa.Column('content', sa.String(length=20), nullable=False),
    sa.Column('heartbeat_seconds', sa.Integer(), nullable=True),
    sa.Column('timeout_seconds', sa.Integer(), nullable=True),
    sa.Column('max_count', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('events', sa.BigInteger(), nullable=False),
    sa.Column('queued', sa.BigInteger(), nullable=False),
    sa.Column('start_xid', sa.BigInteger(), nullable=False),
    sa.Column('start_pos', sa.BigInteger(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_sent', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_state'))
    )
    with op.batch_alter_table('subscription_state', schema=None) as batch_op:
        batch_op.create_index('ix_subscription_state_owner', ['owner'], unique=False)
        batch_op.create_index('ix_subscription_state_status', ['status'], unique=False)
    op.create_table('subscription_event',
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.BigInteger(), nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('subscription_id', 'number', name=op.f('pk_subscription_event'))
    )
    op.create_table('subscription_cursor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('feed_xid', sa.BigInteger(), nullable=False),
    sa.Column('feed_pos', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_cursor'))
    )
    with op.batch_alter_table('inbox_item', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_item_feed_all', ['feed_xid', 'feed_pos'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inbox_item', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_item_feed_all')
    op.drop_table('subscription_cursor')
    op.drop_table('subscription_event')
    with op.batch_alter_table('subscription_state', schema=None) as batch_op:
        batch_op.drop_index('ix_subscription_state_status')
        batch_op.drop_index('ix_subscription_state_owner')
    op.drop_table('subscription_state')

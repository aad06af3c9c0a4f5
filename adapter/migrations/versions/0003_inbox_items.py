"""inbox items: projection for folders and the commit-ordered feed

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 00:57:18.114519
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The feed's positions: a sequence on PostgreSQL (taken with the transaction id, see
    # adapter/inbox/feed.py), a one-row counter on SQLite (whose writers are serialised).
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE inbox_feed_seq")
    op.create_table('feed_counter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_counter'))
    )
    op.create_table('inbox_item',
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('owner', sa.String(length=130), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('priority', sa.String(length=10), nullable=True),
    sa.Column('due', sa.DateTime(timezone=True), nullable=True),
    sa.Column('assignee', sa.String(length=130), nullable=True),
    sa.Column('focus', sa.String(length=130), nullable=True),
    sa.Column('trashed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_updated', sa.DateTime(timezone=True), nullable=False),
    sa.Column('feed_xid', sa.BigInteger(), nullable=False),
    sa.Column('feed_pos', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('task_id', name=op.f('pk_inbox_item'))
    )
    with op.batch_alter_table('inbox_item', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_item_feed', ['owner', 'feed_xid', 'feed_pos'], unique=False)
        batch_op.create_index('ix_inbox_item_focus', ['focus'], unique=False)
        batch_op.create_index('ix_inbox_item_trashed', ['trashed_at'], unique=False)



def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE inbox_feed_seq")
    with op.batch_alter_table('inbox_item', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_item_trashed')
        batch_op.drop_index('ix_inbox_item_focus')
        batch_op.drop_index('ix_inbox_item_feed')

    op.drop_table('inbox_item')
    op.drop_table('feed_counter')

"""follow-up: the item indexes the report reads carry the columns it counts (index-only scans)

The region-wide report (MC-R47, 2,000 inboxes, 1,000,000 items) read each done or open item's
heap row: 2 s. With the columns in the index it reads the index alone. The done items' index
and the trash's hold only done and trashed items: a new item (neither) costs no entry in them
(issue #17: every index entry is work on the ingest path).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 16:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

DONE_COLUMNS = ['created_at', 'opened_at', 'done_by_proxy']
OPEN_COLUMNS = ['kind', 'created_at', 'last_updated', 'due', 'trashed_at']
DONE = sa.text('done_at IS NOT NULL')
TRASHED = sa.text('trashed_at IS NOT NULL')


def upgrade() -> None:
    with op.batch_alter_table('inbox_item', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_item_owner_done')
        batch_op.drop_index('ix_inbox_item_owner_status')
        batch_op.drop_index('ix_inbox_item_trashed')
        batch_op.create_index('ix_inbox_item_owner_done', ['owner', 'done_at'], unique=False, postgresql_include=DONE_COLUMNS,
                              postgresql_where=DONE, sqlite_where=DONE)
        batch_op.create_index('ix_inbox_item_trashed', ['trashed_at'], unique=False, postgresql_where=TRASHED,
                              sqlite_where=TRASHED)
        batch_op.create_index('ix_inbox_item_owner_status', ['owner', 'status'], unique=False,
                              postgresql_include=OPEN_COLUMNS)


def downgrade() -> None:
    with op.batch_alter_table('inbox_item', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_item_owner_status')
        batch_op.drop_index('ix_inbox_item_owner_done')
        batch_op.drop_index('ix_inbox_item_trashed')
        batch_op.create_index('ix_inbox_item_owner_status', ['owner', 'status'], unique=False)
        batch_op.create_index('ix_inbox_item_owner_done', ['owner', 'done_at'], unique=False)
        batch_op.create_index('ix_inbox_item_trashed', ['trashed_at'], unique=False)

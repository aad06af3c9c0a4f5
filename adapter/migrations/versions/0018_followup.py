"""follow-up: watches of shared inboxes; when items arrived, were opened and done, and by whom

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 14:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbox_watch',
    sa.Column('inbox', sa.String(length=130), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('watcher', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('inbox', 'window_start', name=op.f('pk_inbox_watch'))
    )
    # Nullable: items projected before this revision have no follow-up times (reported as unknown).
    with op.batch_alter_table('inbox_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('done_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('done_by_proxy', sa.Boolean(), nullable=True))
        batch_op.create_index('ix_inbox_item_owner_status', ['owner', 'status'], unique=False)
        batch_op.create_index('ix_inbox_item_owner_done', ['owner', 'done_at'], unique=False)
    with op.batch_alter_table('inbox_directory', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_directory_unit', ['organization_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inbox_directory', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_directory_unit')
    with op.batch_alter_table('inbox_item', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_item_owner_done')
        batch_op.drop_index('ix_inbox_item_owner_status')
        batch_op.drop_column('done_by_proxy')
        batch_op.drop_column('done_at')
        batch_op.drop_column('opened_at')
        batch_op.drop_column('created_at')
    op.drop_table('inbox_watch')

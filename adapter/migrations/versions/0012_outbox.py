"""the delivery outbox and its attempts; inbox endpoints

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('destination', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('message', sa.String(length=130), nullable=True),
    sa.Column('sender', sa.String(length=130), nullable=True),
    sa.Column('recipient', sa.String(length=130), nullable=True),
    sa.Column('item_id', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('available_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claim', sa.String(length=80), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_reason', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_due', ['state', 'available_at'], unique=False)
        batch_op.create_index('ix_outbox_destination', ['destination', 'state'], unique=False)
    op.create_table('outbox_attempt',
    sa.Column('outbox_id', sa.String(length=36), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('worker', sa.String(length=80), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_outbox_attempt_outbox_id_outbox'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('outbox_id', 'number', name=op.f('pk_outbox_attempt'))
    )
    with op.batch_alter_table('inbox_directory', schema=None) as batch_op:
        batch_op.add_column(sa.Column('endpoint', sa.String(length=130), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inbox_directory', schema=None) as batch_op:
        batch_op.drop_column('endpoint')
    op.drop_table('outbox_attempt')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_destination')
        batch_op.drop_index('ix_outbox_due')
    op.drop_table('outbox')

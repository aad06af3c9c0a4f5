"""processed messages of $process-message (the reliable cache)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 12:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('processed_message',
    sa.Column('sender', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sender', 'message_id', name=op.f('pk_processed_message'))
    )


def downgrade() -> None:
    op.drop_table('processed_message')

"""the Millennium connector: inboxes' Millennium ids, message links, poll cursors

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 08:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

BASE = "https://meddelandecenter-adapter.github.io/fhir/NamingSystem"
# Frozen here (not imported): what the read model calls a Millennium id at this revision.
SYSTEMS = {"Practitioner": (f"{BASE}/millennium-practitioner", "Practitioner"),
           "HealthcareService": (f"{BASE}/millennium-group", "Group")}


def upgrade() -> None:
    with op.batch_alter_table('inbox_directory', schema=None) as batch_op:
        batch_op.add_column(sa.Column('millennium', sa.String(length=80), nullable=True))
        batch_op.create_index('ix_inbox_directory_millennium', ['millennium'], unique=False)
    op.create_table('millennium_link',
    sa.Column('millennium_id', sa.String(length=64), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('communication_id', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('millennium_id', name=op.f('pk_millennium_link'))
    )
    with op.batch_alter_table('millennium_link', schema=None) as batch_op:
        batch_op.create_index('ix_millennium_link_communication', ['communication_id'], unique=False)
    op.create_table('millennium_cursor',
    sa.Column('group_id', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('through', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('group_id', 'category', name=op.f('pk_millennium_cursor'))
    )
    # Identifiers loaded before this revision: their inboxes' rows learn where they are in Millennium
    # (from the identifier search index, which holds every identifier's system and value).
    connection = op.get_bind()
    for resource_type, (system, target) in SYSTEMS.items():
        rows = connection.execute(sa.text(
            "SELECT resource_id, value FROM search_token WHERE resource_type = :t AND param = 'identifier' AND system = :s"),
            {"t": resource_type, "s": system}).all()
        for resource_id, value in rows:
            connection.execute(sa.text("UPDATE inbox_directory SET millennium = :m WHERE reference = :r"),
                               {"m": f"{target}/{value.strip()}", "r": f"{resource_type}/{resource_id}"})


def downgrade() -> None:
    op.drop_table('millennium_cursor')
    with op.batch_alter_table('millennium_link', schema=None) as batch_op:
        batch_op.drop_index('ix_millennium_link_communication')
    op.drop_table('millennium_link')
    with op.batch_alter_table('inbox_directory', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_directory_millennium')
        batch_op.drop_column('millennium')

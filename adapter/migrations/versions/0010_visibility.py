"""visibility in the query: resource origin, case parties, client capabilities

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 07:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('resource_origin',
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('organization_hsa_id', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('resource_type', 'resource_id', name=op.f('pk_resource_origin'))
    )
    with op.batch_alter_table('inbox_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('case_party', sa.String(length=130), nullable=True))
    with op.batch_alter_table('auth_client', schema=None) as batch_op:
        batch_op.add_column(sa.Column('capabilities', sa.Text(), server_default='', nullable=False))
    with op.batch_alter_table('inbox_directory', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_directory_organization', ['organization_hsa_id'], unique=False)
    # Cases stored before: their starting party was only in the Task's extension.
    connection = op.get_bind()
    rows = connection.execute(sa.text(
        "SELECT r.id, r.content FROM resource r JOIN inbox_item i ON i.task_id = r.id "
        "WHERE r.resource_type = 'Task' AND i.kind = 'case'")).all()
    import json
    for task_id, content in rows:
        for ext in json.loads(content).get("extension", []):
            if ext.get("url", "").endswith("/case-party"):
                connection.execute(sa.text("UPDATE inbox_item SET case_party = :p WHERE task_id = :t"),
                                   {"p": ext.get("valueReference", {}).get("reference"), "t": task_id})


def downgrade() -> None:
    with op.batch_alter_table('inbox_directory', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_directory_organization')
    with op.batch_alter_table('auth_client', schema=None) as batch_op:
        batch_op.drop_column('capabilities')
    with op.batch_alter_table('inbox_item', schema=None) as batch_op:
        batch_op.drop_column('case_party')
    op.drop_table('resource_origin')

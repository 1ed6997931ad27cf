"""inbound receipts known by id: receipts may name the inbound they fulfil

stock_inbound.quantity becomes the announced quantity and received what arrived
against it (existing rows: what was still pending, nothing received yet).

Revision ID: 8c3d2a61f0b4
Revises: 5b1f0c2d9e77
Create Date: 2026-11-25 14:50:00
"""
from alembic import op
import sqlalchemy as sa

revision = '8c3d2a61f0b4'
down_revision = '5b1f0c2d9e77'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stock_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inbound_id', sa.String(length=128), nullable=True))
    with op.batch_alter_table('stock_inbound', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inbound_id', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('received', sa.Integer(), nullable=False, server_default='0'))
    op.execute("UPDATE stock_inbound SET inbound_id = "
               "(SELECT event_id FROM stock_events WHERE stock_events.seq = stock_inbound.seq)")
    with op.batch_alter_table('stock_inbound', schema=None) as batch_op:
        batch_op.alter_column('inbound_id', existing_type=sa.String(length=128), nullable=False)
        batch_op.alter_column('received', existing_type=sa.Integer(), server_default=None)
        batch_op.alter_column('eta', existing_type=sa.DateTime(), nullable=True)
        batch_op.create_unique_constraint(batch_op.f('uq_stock_inbound_inbound_id'), ['inbound_id'])


def downgrade() -> None:
    op.execute("DELETE FROM stock_inbound WHERE eta IS NULL")
    op.execute("UPDATE stock_inbound SET quantity = CASE WHEN quantity > received THEN quantity - received ELSE 0 END")
    with op.batch_alter_table('stock_inbound', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_stock_inbound_inbound_id'), type_='unique')
        batch_op.alter_column('eta', existing_type=sa.DateTime(), nullable=False)
        batch_op.drop_column('received')
        batch_op.drop_column('inbound_id')
    with op.batch_alter_table('stock_events', schema=None) as batch_op:
        batch_op.drop_column('inbound_id')

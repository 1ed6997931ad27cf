"""stock event log, positions, reservations, inbound

The stock_sequence table starts with its one row at 0.

Revision ID: e9cce3a6fabb
Revises: 7e4ad330a1ab
Create Date: 2026-11-25 13:41:22.907939
"""
from alembic import op
import sqlalchemy as sa



revision = 'e9cce3a6fabb'
down_revision = '7e4ad330a1ab'
branch_labels = None
depends_on = None


def upgrade() -> None:
    stock_sequence = op.create_table('stock_sequence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_sequence'))
    )
    op.bulk_insert(stock_sequence, [{"id": 1, "last_seq": 0}])
    op.create_table('stock_events',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('event_id', sa.String(length=128), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('reservation_id', sa.String(length=128), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('eta', sa.DateTime(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('refusal', sa.String(length=40), nullable=True),
    sa.Column('anomaly', sa.Boolean(), nullable=False),
    sa.Column('delta_on_hand', sa.Integer(), nullable=False),
    sa.Column('delta_reserved', sa.Integer(), nullable=False),
    sa.Column('delta_safety_stock', sa.Integer(), nullable=False),
    sa.Column('delta_inbound', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_stock_events_location_id_locations')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_stock_events_product_id_products')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_stock_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_stock_events_event_id'))
    )
    with op.batch_alter_table('stock_events', schema=None) as batch_op:
        batch_op.create_index('ix_stock_events_position_seq', ['product_id', 'location_id', 'seq'], unique=False)
        batch_op.create_index('ix_stock_events_location_occurred', ['location_id', 'occurred_at'], unique=False)

    op.create_table('stock_inbound',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('eta', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_stock_inbound_location_id_locations')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_stock_inbound_product_id_products')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_stock_inbound'))
    )
    with op.batch_alter_table('stock_inbound', schema=None) as batch_op:
        batch_op.create_index('ix_stock_inbound_position_eta', ['product_id', 'location_id', 'eta'], unique=False)

    op.create_table('stock_positions',
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('on_hand', sa.Integer(), nullable=False),
    sa.Column('reserved', sa.Integer(), nullable=False),
    sa.Column('safety_stock', sa.Integer(), nullable=False),
    sa.Column('inbound', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_stock_positions_location_id_locations')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_stock_positions_product_id_products')),
    sa.PrimaryKeyConstraint('product_id', 'location_id', name=op.f('pk_stock_positions'))
    )
    op.create_table('stock_reservations',
    sa.Column('reservation_id', sa.String(length=128), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('opened_seq', sa.BigInteger(), nullable=False),
    sa.Column('closed_seq', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_stock_reservations_location_id_locations')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_stock_reservations_product_id_products')),
    sa.PrimaryKeyConstraint('reservation_id', name=op.f('pk_stock_reservations'))
    )
    with op.batch_alter_table('stock_reservations', schema=None) as batch_op:
        batch_op.create_index('ix_stock_reservations_open_position', ['product_id', 'location_id', 'state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('stock_reservations', schema=None) as batch_op:
        batch_op.drop_index('ix_stock_reservations_open_position')

    op.drop_table('stock_reservations')
    op.drop_table('stock_positions')
    with op.batch_alter_table('stock_inbound', schema=None) as batch_op:
        batch_op.drop_index('ix_stock_inbound_position_eta')

    op.drop_table('stock_inbound')
    with op.batch_alter_table('stock_events', schema=None) as batch_op:
        batch_op.drop_index('ix_stock_events_position_seq')
        batch_op.drop_index('ix_stock_events_location_occurred')

    op.drop_table('stock_events')
    op.drop_table('stock_sequence')

"""stock tuning: positions clustered by key on SQLite; drop an unused stock_events index

Revision ID: 5b1f0c2d9e77
Revises: e9cce3a6fabb
Create Date: 2026-11-25 14:40:00
"""
from alembic import op
import sqlalchemy as sa

revision = '5b1f0c2d9e77'
down_revision = 'e9cce3a6fabb'
branch_labels = None
depends_on = None

POSITION_COLUMNS = "product_id, location_id, on_hand, reserved, safety_stock, inbound, last_seq"


def _rebuild_positions(with_rowid: bool) -> None:
    """SQLite cannot change a table's rowid-ness in place: copy into a new table."""
    op.create_table(
        'stock_positions_rebuilt',
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('location_id', sa.Integer(), nullable=False),
        sa.Column('on_hand', sa.Integer(), nullable=False),
        sa.Column('reserved', sa.Integer(), nullable=False),
        sa.Column('safety_stock', sa.Integer(), nullable=False),
        sa.Column('inbound', sa.Integer(), nullable=False),
        sa.Column('last_seq', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name='fk_stock_positions_location_id_locations'),
        sa.ForeignKeyConstraint(['product_id'], ['products.id'], name='fk_stock_positions_product_id_products'),
        sa.PrimaryKeyConstraint('product_id', 'location_id', name='pk_stock_positions'),
        sqlite_with_rowid=with_rowid,
    )
    op.execute(f"INSERT INTO stock_positions_rebuilt ({POSITION_COLUMNS}) SELECT {POSITION_COLUMNS} FROM stock_positions")
    op.drop_table('stock_positions')
    op.rename_table('stock_positions_rebuilt', 'stock_positions')


def upgrade() -> None:
    with op.batch_alter_table('stock_events', schema=None) as batch_op:
        batch_op.drop_index('ix_stock_events_position_seq')
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_positions(with_rowid=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_positions(with_rowid=True)
    with op.batch_alter_table('stock_events', schema=None) as batch_op:
        batch_op.create_index('ix_stock_events_position_seq', ['product_id', 'location_id', 'seq'], unique=False)

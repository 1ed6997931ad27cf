"""the positions table records how far into the log it is complete (positions_seq)

On SQLite the write path no longer rewrites a batch's positions in every transaction:
the table is brought forward from the log in bulk once it trails by a set number of
events. ``positions_seq`` is the log sequence number it holds every event up to; until
now it was always the head.

Revision ID: c3d9e2f41a7b
Revises: a41f7c9e2b10
Create Date: 2026-11-26 15:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = 'c3d9e2f41a7b'
down_revision = 'a41f7c9e2b10'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stock_sequence') as batch:
        batch.add_column(sa.Column('positions_seq', sa.BigInteger(), nullable=False, server_default='0'))
    op.execute("UPDATE stock_sequence SET positions_seq = last_seq")


def downgrade() -> None:
    # The table must hold the whole log before the column that says otherwise goes. (The
    # statement is stock_repository.BRING_FORWARD as of this revision, copied: a migration
    # must not change when the application's code does.)
    op.execute(
        "INSERT INTO stock_positions (product_id, location_id, on_hand, reserved, safety_stock, inbound, last_seq) "
        "SELECT product_id, location_id, SUM(delta_on_hand), SUM(delta_reserved), SUM(delta_safety_stock), "
        "SUM(delta_inbound), COALESCE(MAX(CASE WHEN refusal IS NULL THEN seq END), 0) FROM stock_events "
        "WHERE seq > (SELECT positions_seq FROM stock_sequence WHERE id = 1) GROUP BY product_id, location_id "
        "ON CONFLICT (product_id, location_id) DO UPDATE SET on_hand = stock_positions.on_hand + excluded.on_hand, "
        "reserved = stock_positions.reserved + excluded.reserved, "
        "safety_stock = stock_positions.safety_stock + excluded.safety_stock, "
        "inbound = stock_positions.inbound + excluded.inbound, "
        "last_seq = CASE WHEN excluded.last_seq > stock_positions.last_seq THEN excluded.last_seq "
        "ELSE stock_positions.last_seq END")
    with op.batch_alter_table('stock_sequence') as batch:
        batch.drop_column('positions_seq')

"""the log's location/time index covers applied sales only (what sales velocity reads)

Every stock event paid for an entry in (location_id, occurred_at); only applied sales
are ever looked up through it (days of cover). A partial index is a third of the
write cost on the hottest table.

Revision ID: a41f7c9e2b10
Revises: d187c387a1ac
Create Date: 2026-11-26 14:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = 'a41f7c9e2b10'
down_revision = 'd187c387a1ac'
branch_labels = None
depends_on = None

APPLIED_SALES = sa.text("type = 'sale' AND refusal IS NULL")


def upgrade() -> None:
    op.drop_index('ix_stock_events_location_occurred', table_name='stock_events')
    op.create_index('ix_stock_events_sales', 'stock_events', ['location_id', 'occurred_at'], unique=False,
                    sqlite_where=APPLIED_SALES, postgresql_where=APPLIED_SALES)


def downgrade() -> None:
    op.drop_index('ix_stock_events_sales', table_name='stock_events')
    op.create_index('ix_stock_events_location_occurred', 'stock_events', ['location_id', 'occurred_at'], unique=False)

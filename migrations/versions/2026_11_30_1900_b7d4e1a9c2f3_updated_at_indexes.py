"""indexes on products.updated_at and customers.updated_at

Every audience scorer (one per process) asks on each call for the products and customers
changed since it last looked; without an index that is a scan of the 92k demo products,
about 30 ms of a 40-80 ms whole-base ranking.

Revision ID: b7d4e1a9c2f3
Revises: fc8388c085f4
Create Date: 2026-11-30 19:00:00
"""
from alembic import op

revision = 'b7d4e1a9c2f3'
down_revision = 'fc8388c085f4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f('ix_products_updated_at'), 'products', ['updated_at'])
    op.create_index(op.f('ix_customers_updated_at'), 'customers', ['updated_at'])


def downgrade() -> None:
    op.drop_index(op.f('ix_customers_updated_at'), table_name='customers')
    op.drop_index(op.f('ix_products_updated_at'), table_name='products')

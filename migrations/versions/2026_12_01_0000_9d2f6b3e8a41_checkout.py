"""checkout: coupon codes, per-customer redemption counts, campaign counters, redemption details

Caps, budgets, per-customer limits and code uses are held by conditional updates of
counters (campaigns.redeemed_count and discount_spent_cents, customer_redemption_counts,
coupon_codes.uses) inside the redeeming transaction. The counters start from the
redemptions already stored.

Revision ID: 9d2f6b3e8a41
Revises: 3c6e9a1d7f52
Create Date: 2026-12-01 00:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '9d2f6b3e8a41'
down_revision = '3c6e9a1d7f52'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: a batch (copy-and-move) of these tables would
    # trip the foreign keys that point at them on a database with rows.
    op.add_column('campaigns', sa.Column('redeemed_count', sa.Integer(), server_default='0', nullable=False))
    op.add_column('campaigns', sa.Column('discount_spent_cents', sa.BigInteger(), server_default='0', nullable=False))
    op.add_column('campaigns', sa.Column('codes_required', sa.Boolean(), server_default=sa.false(), nullable=False))
    for column in (sa.Column('revenue', sa.Numeric(12, 2), nullable=True),
                   sa.Column('channel', sa.String(length=10), nullable=True),
                   sa.Column('location_id', sa.Integer(), nullable=True),
                   sa.Column('code_id', sa.BigInteger(), nullable=True),
                   sa.Column('offer_id', sa.String(length=120), nullable=True),
                   sa.Column('recommendation_id', sa.String(length=40), nullable=True),
                   sa.Column('request_hash', sa.String(length=64), nullable=True),
                   sa.Column('answer', sa.JSON(), nullable=True),
                   sa.Column('cancelled_at', sa.DateTime(), nullable=True)):
        op.add_column('redemptions', column)
    op.create_table(
        'customer_redemption_counts',
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('redeemed', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                                name=op.f('fk_customer_redemption_counts_campaign_id_campaigns')),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_customer_redemption_counts_customer_id_customers')),
        sa.PrimaryKeyConstraint('campaign_id', 'customer_id', name=op.f('pk_customer_redemption_counts')),
    )
    op.create_table(
        'coupon_codes',
        sa.Column('id', BIG_ID, nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=True),
        sa.Column('max_uses', sa.Integer(), nullable=True),
        sa.Column('uses', sa.Integer(), server_default='0', nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_coupon_codes_campaign_id_campaigns')),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_coupon_codes_customer_id_customers')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_codes')),
        sa.UniqueConstraint('code', name=op.f('uq_coupon_codes_code')),
    )
    op.create_index('ix_coupon_codes_campaign', 'coupon_codes', ['campaign_id', 'id'])
    op.create_index('ix_coupon_codes_customer', 'coupon_codes', ['customer_id'])
    # The counters start from what is stored (the imported history, and redemptions
    # recorded before checkout existed).
    op.execute("""
        UPDATE campaigns SET
            redeemed_count = (SELECT count(*) FROM redemptions r WHERE r.campaign_id = campaigns.id),
            discount_spent_cents = (SELECT coalesce(round(sum(r.discount_total) * 100), 0)
                                    FROM redemptions r WHERE r.campaign_id = campaigns.id)
    """)
    op.execute("""
        INSERT INTO customer_redemption_counts (campaign_id, customer_id, redeemed)
        SELECT campaign_id, customer_id, count(*) FROM redemptions GROUP BY campaign_id, customer_id
    """)


def downgrade() -> None:
    op.drop_index('ix_coupon_codes_customer', table_name='coupon_codes')
    op.drop_index('ix_coupon_codes_campaign', table_name='coupon_codes')
    op.drop_table('coupon_codes')
    op.drop_table('customer_redemption_counts')
    for name in ('cancelled_at', 'answer', 'request_hash', 'recommendation_id', 'offer_id', 'code_id',
                 'location_id', 'channel', 'revenue'):
        op.drop_column('redemptions', name)
    for name in ('codes_required', 'discount_spent_cents', 'redeemed_count'):
        op.drop_column('campaigns', name)

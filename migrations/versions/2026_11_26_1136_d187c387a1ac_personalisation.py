"""personalisation: profiles, campaign history, active models

Customer profiles, the campaign history the response model learns from (campaigns,
their products, exposures, redemptions), the active version of each model, and the
recommendation an interaction cites.

Revision ID: d187c387a1ac
Revises: 8c3d2a61f0b4
Create Date: 2026-11-26 11:36:02.943527
"""
from alembic import op
import sqlalchemy as sa

revision = 'd187c387a1ac'
down_revision = '8c3d2a61f0b4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('active_models',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('activated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_active_models'))
    )
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('code', name=op.f('uq_campaigns_code'))
    )
    op.create_table('campaign_products',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_products_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_campaign_products_product_id_products')),
    sa.PrimaryKeyConstraint('campaign_id', 'product_id', name=op.f('pk_campaign_products'))
    )
    op.create_table('campaign_exposures',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('cohort', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_exposures_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_campaign_exposures_customer_id_customers')),
    sa.PrimaryKeyConstraint('campaign_id', 'customer_id', name=op.f('pk_campaign_exposures'))
    )
    with op.batch_alter_table('campaign_exposures', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_exposures_customer', ['customer_id'], unique=False)

    op.create_table('customer_profiles',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(), nullable=True),
    sa.Column('first_purchase_at', sa.DateTime(), nullable=True),
    sa.Column('last_purchase_at', sa.DateTime(), nullable=True),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.Column('purchase_lines', sa.Integer(), nullable=False),
    sa.Column('items', sa.Integer(), nullable=False),
    sa.Column('spend', sa.Numeric(precision=12, scale=2, asdecimal=False), nullable=False),
    sa.Column('discount', sa.Numeric(precision=12, scale=2, asdecimal=False), nullable=False),
    sa.Column('coupon_discount', sa.Numeric(precision=12, scale=2, asdecimal=False), nullable=False),
    sa.Column('coupon_lines', sa.Integer(), nullable=False),
    sa.Column('views', sa.Integer(), nullable=False),
    sa.Column('carts', sa.Integer(), nullable=False),
    sa.Column('exposures', sa.Integer(), nullable=False),
    sa.Column('redemptions', sa.Integer(), nullable=False),
    sa.Column('last_redemption_at', sa.DateTime(), nullable=True),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('top_locations', sa.JSON(), nullable=False),
    sa.Column('top_categories', sa.JSON(), nullable=False),
    sa.Column('top_brands', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_profiles_customer_id_customers')),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_profiles'))
    )
    with op.batch_alter_table('customer_profiles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_profiles_last_seen_at'), ['last_seen_at'], unique=False)

    op.create_table('redemptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('event_id', sa.String(length=128), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('coupon_code', sa.String(length=64), nullable=True),
    sa.Column('redeemed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_redemptions_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_redemptions_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemptions')),
    sa.UniqueConstraint('event_id', name=op.f('uq_redemptions_event_id'))
    )
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_redemptions_campaign', ['campaign_id'], unique=False)
        batch_op.create_index('ix_redemptions_customer_redeemed', ['customer_id', 'redeemed_at'], unique=False)

    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recommendation_id', sa.String(length=64), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.drop_column('recommendation_id')

    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_index('ix_redemptions_customer_redeemed')
        batch_op.drop_index('ix_redemptions_campaign')

    op.drop_table('redemptions')
    with op.batch_alter_table('customer_profiles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_profiles_last_seen_at'))

    op.drop_table('customer_profiles')
    with op.batch_alter_table('campaign_exposures', schema=None) as batch_op:
        batch_op.drop_index('ix_campaign_exposures_customer')

    op.drop_table('campaign_exposures')
    op.drop_table('campaign_products')
    op.drop_table('campaigns')
    op.drop_table('active_models')

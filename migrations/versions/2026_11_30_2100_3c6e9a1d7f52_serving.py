"""serving: served exposures, offer events, the discount a redemption took

Served lists (offers, deals, recommendations) are recorded per campaign in
served_exposures, written in batches off the request path (thousands of rows a second:
one index only, by campaign and customer, what reports and attribution read); clicks
and dismissals in offer_events. redemptions.discount_total lets a campaign's budget be
counted.

Revision ID: 3c6e9a1d7f52
Revises: b7d4e1a9c2f3
Create Date: 2026-11-30 21:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '3c6e9a1d7f52'
down_revision = 'b7d4e1a9c2f3'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'served_exposures',
        sa.Column('id', BIG_ID, nullable=False),
        sa.Column('recommendation_id', sa.String(length=40), nullable=False),
        sa.Column('served_at', sa.DateTime(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=True),
        sa.Column('customer', sa.String(length=64), nullable=True),
        sa.Column('cohort', sa.String(length=16), nullable=False),
        sa.Column('channel', sa.String(length=10), nullable=False),
        sa.Column('location_id', sa.Integer(), nullable=True),
        sa.Column('skus', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                                name=op.f('fk_served_exposures_campaign_id_campaigns')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_served_exposures')),
    )
    op.create_index('ix_served_exposures_campaign_customer', 'served_exposures', ['campaign_id', 'customer'])
    op.create_table(
        'offer_events',
        sa.Column('id', BIG_ID, nullable=False),
        sa.Column('event_id', sa.String(length=128), nullable=False),
        sa.Column('recommendation_id', sa.String(length=40), nullable=False),
        sa.Column('offer_id', sa.String(length=120), nullable=True),
        sa.Column('sku', sa.String(length=64), nullable=True),
        sa.Column('type', sa.String(length=10), nullable=False),
        sa.Column('customer', sa.String(length=64), nullable=True),
        sa.Column('occurred_at', sa.DateTime(), nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_offer_events')),
        sa.UniqueConstraint('event_id', name=op.f('uq_offer_events_event_id')),
    )
    op.create_index('ix_offer_events_recommendation', 'offer_events', ['recommendation_id'])
    op.add_column('redemptions', sa.Column('discount_total', sa.Numeric(12, 2), nullable=True))
    # Each serving process asks for the profiles rewritten since it last looked.
    op.create_index(op.f('ix_customer_profiles_updated_at'), 'customer_profiles', ['updated_at'])


def downgrade() -> None:
    op.drop_index(op.f('ix_customer_profiles_updated_at'), table_name='customer_profiles')
    with op.batch_alter_table('redemptions') as batch:
        batch.drop_column('discount_total')
    op.drop_index('ix_offer_events_recommendation', table_name='offer_events')
    op.drop_table('offer_events')
    op.drop_index('ix_served_exposures_campaign_customer', table_name='served_exposures')
    op.drop_table('served_exposures')

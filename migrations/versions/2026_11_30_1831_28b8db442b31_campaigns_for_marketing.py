"""campaigns for marketing: what a campaign promises (channels, locations, product rule,
discount, targeting, limits, stacking, holdout, stock policy), who paused it, whether
it went live by a stock override,
the cursor of the promoted-stock watch, its latest
expected redemptions and a revision counter; campaign_events, the audit log

Imported (demo) campaigns keep their rows: the new columns get defaults.

Revision ID: 28b8db442b31
Revises: f1a2b3c4d5e6
Create Date: 2026-11-30 18:31:30.569089
"""
from alembic import op
import sqlalchemy as sa

revision = '28b8db442b31'
down_revision = 'f1a2b3c4d5e6'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaign_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('reason', sa.String(length=2000), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('stock_seq', sa.BigInteger(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_events_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_events'))
    )
    op.create_index('ix_campaign_events_campaign', 'campaign_events', ['campaign_id', 'id'], unique=False)
    op.create_table('promoted_stock_cursor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stock_seq', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promoted_stock_cursor'))
    )

    # Plain ADD COLUMN (no table rebuild): other tables refer to campaigns.
    op.add_column('campaigns', sa.Column('description', sa.String(length=2000), server_default='', nullable=False))
    op.add_column('campaigns', sa.Column('channels', sa.JSON(), server_default='[]', nullable=False))
    op.add_column('campaigns', sa.Column('location_ids', sa.JSON(), nullable=True))
    op.add_column('campaigns', sa.Column('products', sa.JSON(), server_default='{}', nullable=False))
    op.add_column('campaigns', sa.Column('discount', sa.JSON(), nullable=True))
    op.add_column('campaigns', sa.Column('targeting', sa.JSON(), server_default='{}', nullable=False))
    op.add_column('campaigns', sa.Column('max_redemptions', sa.Integer(), nullable=True))
    op.add_column('campaigns', sa.Column('per_customer', sa.Integer(), nullable=True))
    op.add_column('campaigns', sa.Column('budget', sa.Numeric(precision=12, scale=2, asdecimal=False), nullable=True))
    op.add_column('campaigns', sa.Column('priority', sa.Integer(), server_default='0', nullable=False))
    op.add_column('campaigns', sa.Column('exclusive', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('campaigns', sa.Column('holdout_percent', sa.Numeric(precision=5, scale=2, asdecimal=False), server_default='0', nullable=False))
    op.add_column('campaigns', sa.Column('stock_policy', sa.JSON(), server_default='{}', nullable=False))
    op.add_column('campaigns', sa.Column('paused_by', sa.String(length=12), nullable=True))
    op.add_column('campaigns', sa.Column('stock_override', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('campaigns', sa.Column('stock_judged_seq', sa.BigInteger(), nullable=True))
    op.add_column('campaigns', sa.Column('expected_redemptions', sa.Numeric(precision=14, scale=4, asdecimal=False), nullable=True))
    op.add_column('campaigns', sa.Column('revision', sa.Integer(), server_default='1', nullable=False))
    op.add_column('campaigns', sa.Column('created_by', sa.String(length=120), nullable=True))
    op.create_index('ix_campaigns_status', 'campaigns', ['status'], unique=False)



def downgrade() -> None:
    op.drop_index('ix_campaigns_status', table_name='campaigns')
    op.drop_column('campaigns', 'created_by')
    op.drop_column('campaigns', 'revision')
    op.drop_column('campaigns', 'expected_redemptions')
    op.drop_column('campaigns', 'stock_judged_seq')
    op.drop_column('campaigns', 'stock_override')
    op.drop_column('campaigns', 'paused_by')
    op.drop_column('campaigns', 'stock_policy')
    op.drop_column('campaigns', 'holdout_percent')
    op.drop_column('campaigns', 'exclusive')
    op.drop_column('campaigns', 'priority')
    op.drop_column('campaigns', 'budget')
    op.drop_column('campaigns', 'per_customer')
    op.drop_column('campaigns', 'max_redemptions')
    op.drop_column('campaigns', 'targeting')
    op.drop_column('campaigns', 'discount')
    op.drop_column('campaigns', 'products')
    op.drop_column('campaigns', 'location_ids')
    op.drop_column('campaigns', 'channels')
    op.drop_column('campaigns', 'description')

    op.drop_index('ix_campaign_events_campaign', table_name='campaign_events')

    op.drop_table('promoted_stock_cursor')
    op.drop_table('campaign_events')

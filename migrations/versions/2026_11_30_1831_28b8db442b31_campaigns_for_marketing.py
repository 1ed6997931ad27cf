"""campaigns for marketing: what a campaign promises (channels, locations, product rule,
discount, targeting, limits, stacking, holdout, stock policy), who paused it, its latest
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
    with op.batch_alter_table('campaign_events', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_events_campaign', ['campaign_id', 'id'], unique=False)

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description', sa.String(length=2000), server_default='', nullable=False))
        batch_op.add_column(sa.Column('channels', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('location_ids', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('products', sa.JSON(), server_default='{}', nullable=False))
        batch_op.add_column(sa.Column('discount', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('targeting', sa.JSON(), server_default='{}', nullable=False))
        batch_op.add_column(sa.Column('max_redemptions', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('per_customer', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('budget', sa.Numeric(precision=12, scale=2, asdecimal=False), nullable=True))
        batch_op.add_column(sa.Column('priority', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('exclusive', sa.Boolean(), server_default=sa.text('false'), nullable=False))
        batch_op.add_column(sa.Column('holdout_percent', sa.Numeric(precision=5, scale=2, asdecimal=False), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('stock_policy', sa.JSON(), server_default='{}', nullable=False))
        batch_op.add_column(sa.Column('paused_by', sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column('expected_redemptions', sa.Numeric(precision=14, scale=4, asdecimal=False), nullable=True))
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('created_by', sa.String(length=120), nullable=True))
        batch_op.create_index('ix_campaigns_status', ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index('ix_campaigns_status')
        batch_op.drop_column('created_by')
        batch_op.drop_column('revision')
        batch_op.drop_column('expected_redemptions')
        batch_op.drop_column('paused_by')
        batch_op.drop_column('stock_policy')
        batch_op.drop_column('holdout_percent')
        batch_op.drop_column('exclusive')
        batch_op.drop_column('priority')
        batch_op.drop_column('budget')
        batch_op.drop_column('per_customer')
        batch_op.drop_column('max_redemptions')
        batch_op.drop_column('targeting')
        batch_op.drop_column('discount')
        batch_op.drop_column('products')
        batch_op.drop_column('location_ids')
        batch_op.drop_column('channels')
        batch_op.drop_column('description')

    with op.batch_alter_table('campaign_events', schema=None) as batch_op:
        batch_op.drop_index('ix_campaign_events_campaign')

    op.drop_table('campaign_events')

"""failed attempts: wrong passwords and coupon code guesses, counted across every process

Revision ID: a4c1e7b95d26
Revises: 5e8b2c7d9f13
Create Date: 2026-12-01 11:20:00
"""
from alembic import op
import sqlalchemy as sa

revision = 'a4c1e7b95d26'
down_revision = '5e8b2c7d9f13'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'failed_attempts',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('subject', sa.String(length=400), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_failed_attempts')),
    )
    op.create_index('ix_failed_attempts_subject', 'failed_attempts', ['kind', 'subject', 'at'])
    op.create_index('ix_failed_attempts_age', 'failed_attempts', ['kind', 'at'])


def downgrade() -> None:
    op.drop_index('ix_failed_attempts_age', table_name='failed_attempts')
    op.drop_index('ix_failed_attempts_subject', table_name='failed_attempts')
    op.drop_table('failed_attempts')

"""staff users: the people who sign in to the marketing web app

Revision ID: 5e8b2c7d9f13
Revises: 9d2f6b3e8a41
Create Date: 2026-12-01 01:20:00
"""
from alembic import op
import sqlalchemy as sa

revision = '5e8b2c7d9f13'
down_revision = '9d2f6b3e8a41'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'staff_users',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('password_hash', sa.String(length=256), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('session_epoch', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_sign_in_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
        sa.UniqueConstraint('email', name=op.f('uq_staff_users_email')),
    )


def downgrade() -> None:
    op.drop_table('staff_users')

"""issue 6: API contract (token limits and owners)

Revision ID: 0010
Revises: 0009
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # per-token rate limit ("600/minute"); NULL means the server default (MOTCUA_API_RATE_LIMIT)
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rate_limit', sa.String(length=50), nullable=True))
    # idempotency keys replay the first answer (status + body), not only the created resource
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('response_status', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('response_body', sa.Text(), nullable=True))
        batch_op.create_index('ix_idempotency_keys_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_idempotency_keys_created_at')
        batch_op.drop_column('response_body')
        batch_op.drop_column('response_status')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('rate_limit')

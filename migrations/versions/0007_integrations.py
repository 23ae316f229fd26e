"""issue 6: webhooks, outbox, portal feed, buffered messages, payment confirmations

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('webhook_subscriptions',
    sa.Column('id', BIGINT_PK, nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('secret', sa.String(length=200), nullable=False),
    sa.Column('event_types', sa.Text(), nullable=False),
    sa.Column('procedure_codes', sa.Text(), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('owner', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_subscriptions_owner', ['owner'], unique=False)

    op.create_table('outbox_events',
    sa.Column('seq', BIGINT_PK, nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=60), nullable=False),
    sa.Column('dossier_id', sa.String(length=36), nullable=True),
    sa.Column('dossier_code', sa.String(length=64), nullable=True),
    sa.Column('instance_id', sa.String(length=36), nullable=True),
    sa.Column('procedure_code', sa.String(length=50), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('outbox_events', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_events_dossier', ['dossier_id', 'seq'], unique=False)
        batch_op.create_index('ix_outbox_events_type', ['type'], unique=False)
        batch_op.create_index('ix_outbox_events_dossier_code', ['dossier_code'], unique=False)
        batch_op.create_index('ix_outbox_events_instance_id', ['instance_id'], unique=False)
        batch_op.create_index('ix_outbox_events_created_at', ['created_at'], unique=False)

    op.create_table('webhook_deliveries',
    sa.Column('id', BIGINT_PK, nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('target', sa.String(length=40), nullable=False),
    sa.Column('subscription_id', sa.BigInteger(), nullable=True),
    sa.Column('dossier_id', sa.String(length=36), nullable=True),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['outbox_events.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscriptions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id', 'target', name='uq_webhook_deliveries_event_target')
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_order', ['target', 'dossier_id', 'status', 'id'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_event_id', ['event_id'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_subscription_id', ['subscription_id'], unique=False)

    op.create_table('webhook_delivery_attempts',
    sa.Column('id', BIGINT_PK, nullable=False),
    sa.Column('delivery_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['webhook_deliveries.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_delivery_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_delivery_attempts_delivery_id', ['delivery_id'], unique=False)

    op.create_table('payment_confirmations',
    sa.Column('id', BIGINT_PK, nullable=False),
    sa.Column('transaction_id', sa.String(length=100), nullable=False),
    sa.Column('dossier_code', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('transaction_id')
    )
    with op.batch_alter_table('payment_confirmations', schema=None) as batch_op:
        batch_op.create_index('ix_payment_confirmations_dossier_code', ['dossier_code'], unique=False)

    op.create_table('buffered_messages',
    sa.Column('id', BIGINT_PK, nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('business_key', sa.String(length=255), nullable=True),
    sa.Column('correlation', sa.Text(), nullable=True),
    sa.Column('payload', sa.Text(), nullable=True),
    sa.Column('sent_by', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('buffered_messages', schema=None) as batch_op:
        batch_op.create_index('ix_buffered_messages_name_key', ['name', 'business_key'], unique=False)
        batch_op.create_index('ix_buffered_messages_expires_at', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_table('buffered_messages')
    op.drop_table('payment_confirmations')
    op.drop_table('webhook_delivery_attempts')
    op.drop_table('webhook_deliveries')
    op.drop_table('outbox_events')
    op.drop_table('webhook_subscriptions')

"""API tokens remember the token that created them, so revoking a token revokes its children

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # tokens made before this revision have no recorded parent: they stay as they are
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
        batch_op.create_index('ix_api_tokens_parent_id', ['parent_id'], unique=False)
        batch_op.create_foreign_key('fk_api_tokens_parent_id', 'api_tokens', ['parent_id'], ['id'],
                                    ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint('fk_api_tokens_parent_id', type_='foreignkey')
        batch_op.drop_index('ix_api_tokens_parent_id')
        batch_op.drop_column('parent_id')

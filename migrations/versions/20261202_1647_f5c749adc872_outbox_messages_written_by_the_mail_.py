"""outbox messages written by the mail worker

Revision ID: f5c749adc872
Revises: 847c8bc39beb
Create Date: 2026-12-02 16:47:36.010117

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f5c749adc872'
down_revision = '847c8bc39beb'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('context', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('language', sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('timezone')
        batch_op.drop_column('language')
        batch_op.drop_column('context')

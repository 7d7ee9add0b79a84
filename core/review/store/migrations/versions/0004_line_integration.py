"""Line integration (issue 15): API keys and the calls made with them, review-queue claims shared by every app
server, and the folder watchers' heartbeats.

Revision ID: 0004_line_integration
Revises: 0003_sign_in_throttling
Create Date: 2026-11-22 17:23:30.501896
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_line_integration'
down_revision = '0003_sign_in_throttling'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('key_sha256', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_sha256'),
    sa.UniqueConstraint('name')
    )
    op.create_table('queue_claims',
    sa.Column('inference_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('holder', sa.String(length=128), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('inference_id')
    )
    with op.batch_alter_table('queue_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_queue_claims_holder'), ['holder'], unique=False)

    op.create_table('watcher_heartbeats',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('folders', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('inspected', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('backlog', sa.Integer(), nullable=False),
    sa.Column('rate_per_s', sa.Float(), nullable=False),
    sa.Column('last_image', sa.String(length=512), nullable=False),
    sa.Column('last_image_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('api_calls',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('path', sa.String(length=256), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('inference_id', sa.Integer(), nullable=True),
    sa.Column('latency_ms', sa.Float(), nullable=False),
    sa.Column('called_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['key_id'], ['api_keys.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('api_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_calls_called_at'), ['called_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_calls_key_id'), ['key_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('api_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_calls_key_id'))
        batch_op.drop_index(batch_op.f('ix_api_calls_called_at'))

    op.drop_table('api_calls')
    op.drop_table('watcher_heartbeats')
    with op.batch_alter_table('queue_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queue_claims_holder'))

    op.drop_table('queue_claims')
    op.drop_table('api_keys')

"""lifecycle: timers, escalation epoch, first acknowledgement, merges

Revision ID: 0005_lifecycle
Revises: 0002_schedules
Create Date: 2026-11-22 11:54:53.548972
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_lifecycle"
down_revision: str | None = "0002_schedules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "incidents",
        sa.Column("escalation_epoch", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "incidents",
        sa.Column("max_level_reached", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "incidents", sa.Column("ack_timeout_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "incidents", sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "incidents", sa.Column("auto_resolve_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("incidents", sa.Column("merged_into_id", sa.Uuid(), nullable=True))
    op.add_column(
        "incidents",
        sa.Column("first_acknowledged_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "incidents",
        sa.Column("first_acknowledged_by", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    # Existing incidents: the first acknowledgement is the one on record; levels reached so far.
    op.execute(
        "UPDATE incidents SET first_acknowledged_at = acknowledged_at,"
        " first_acknowledged_by = acknowledged_by, max_level_reached = escalation_level"
        " WHERE level_entered_at IS NOT NULL OR acknowledged_at IS NOT NULL"
    )
    op.create_index(
        "ix_incidents_ack_timeout",
        "incidents",
        ["ack_timeout_at"],
        unique=False,
        postgresql_where=sa.text("ack_timeout_at IS NOT NULL"),
    )
    op.create_index(
        "ix_incidents_auto_resolve",
        "incidents",
        ["auto_resolve_at"],
        unique=False,
        postgresql_where=sa.text("auto_resolve_at IS NOT NULL"),
    )
    op.create_foreign_key(
        op.f("fk_incidents_merged_into_id_incidents"),
        "incidents",
        "incidents",
        ["merged_into_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_incidents_merged_into_id_incidents"), "incidents", type_="foreignkey"
    )
    op.drop_index(
        "ix_incidents_auto_resolve",
        table_name="incidents",
        postgresql_where=sa.text("auto_resolve_at IS NOT NULL"),
    )
    op.drop_index(
        "ix_incidents_ack_timeout",
        table_name="incidents",
        postgresql_where=sa.text("ack_timeout_at IS NOT NULL"),
    )
    for column in (
        "first_acknowledged_by",
        "first_acknowledged_at",
        "merged_into_id",
        "auto_resolve_at",
        "snoozed_until",
        "ack_timeout_at",
        "max_level_reached",
        "escalation_epoch",
    ):
        op.drop_column("incidents", column)

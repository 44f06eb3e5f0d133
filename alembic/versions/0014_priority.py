"""priority: incidents gain a priority (P1-P5); inbound request ids and their receipts

Revision ID: 0014_priority
Revises: 0012_channels_trust
Create Date: 2026-12-02 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014_priority"
down_revision: str | None = "0012_channels_trust"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "incidents",
        sa.Column(
            "priority",
            sqlmodel.sql.sqltypes.AutoString(length=2),
            server_default="P3",
            nullable=False,
        ),
    )
    # Incidents opened before priorities existed get the one their severity means.
    op.execute(
        "UPDATE incidents SET priority = CASE severity WHEN 'critical' THEN 'P1'"
        " WHEN 'error' THEN 'P2' WHEN 'warning' THEN 'P3' ELSE 'P4' END"
    )
    op.add_column("inbound_events", sa.Column("request_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_inbound_events_key", "inbound_events", ["service_id", "dedup_key"], unique=False
    )
    op.create_index(
        "ix_inbound_events_request",
        "inbound_events",
        ["request_id"],
        unique=False,
        postgresql_where=sa.text("request_id IS NOT NULL"),
    )
    op.add_column("inbound_dead_events", sa.Column("request_id", sa.Uuid(), nullable=True))
    op.create_index(
        op.f("ix_inbound_dead_events_request_id"),
        "inbound_dead_events",
        ["request_id"],
        unique=False,
    )
    op.create_table(
        "inbound_receipts",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("dedup_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_inbound_receipts_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_inbound_receipts")),
    )
    op.create_index(
        op.f("ix_inbound_receipts_processed_at"),
        "inbound_receipts",
        ["processed_at"],
        unique=False,
    )
    op.create_index("ix_incidents_priority_created", "incidents", ["priority", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_incidents_priority_created", table_name="incidents")
    op.drop_index(op.f("ix_inbound_receipts_processed_at"), table_name="inbound_receipts")
    op.drop_table("inbound_receipts")
    op.drop_index(op.f("ix_inbound_dead_events_request_id"), table_name="inbound_dead_events")
    op.drop_column("inbound_dead_events", "request_id")
    op.drop_index("ix_inbound_events_request", table_name="inbound_events")
    op.drop_index("ix_inbound_events_key", table_name="inbound_events")
    op.drop_column("inbound_events", "request_id")
    op.drop_column("incidents", "priority")

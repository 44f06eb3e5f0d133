"""integrations: routing rules, maintenance windows, heartbeats, alert grouping per key

Revision ID: 0004_integrations
Revises: 0005_lifecycle
Create Date: 2026-11-22 11:56:12.485691
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_integrations"
down_revision: str | None = "0005_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "heartbeats",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("last_ping_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_heartbeats_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_heartbeats")),
        sa.UniqueConstraint("service_id", "name", name=op.f("uq_heartbeats_service_id")),
    )
    op.create_index(
        "ix_heartbeats_due",
        "heartbeats",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("status = 'up'"),
    )
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_maintenance_windows_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_windows")),
    )
    op.create_index(
        "ix_maintenance_windows_service_span",
        "maintenance_windows",
        ["service_id", "ends_at", "starts_at"],
        unique=False,
    )
    op.create_table(
        "routing_rules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("conditions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("escalation_policy_id", sa.Uuid(), nullable=True),
        sa.Column("urgency", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("suppress", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["escalation_policy_id"],
            ["escalation_policies.id"],
            name=op.f("fk_routing_rules_escalation_policy_id_escalation_policies"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_routing_rules_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rules")),
        sa.UniqueConstraint("service_id", "position", name=op.f("uq_routing_rules_service_id")),
    )
    op.create_index(
        op.f("ix_routing_rules_escalation_policy_id"),
        "routing_rules",
        ["escalation_policy_id"],
        unique=False,
    )
    op.add_column(
        "integration_keys",
        sa.Column(
            "alert_grouping",
            sqlmodel.sql.sqltypes.AutoString(length=8),
            server_default="group",
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("integration_keys", "alert_grouping")
    op.drop_index(op.f("ix_routing_rules_escalation_policy_id"), table_name="routing_rules")
    op.drop_table("routing_rules")
    op.drop_index("ix_maintenance_windows_service_span", table_name="maintenance_windows")
    op.drop_table("maintenance_windows")
    op.drop_index(
        "ix_heartbeats_due", table_name="heartbeats", postgresql_where=sa.text("status = 'up'")
    )
    op.drop_table("heartbeats")

"""console indexes: the incident list's "mine" filter starts from the viewer's incidents

Revision ID: 0015_console_indexes
Revises: 0012_channels_trust
Create Date: 2026-12-02 14:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_console_indexes"
down_revision: str | None = "0014_priority"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The incidents that paged a user (an id list for `incidents.id = ANY(...)`).
    op.create_index(
        "ix_notifications_user_incident",
        "notifications",
        ["user_id", "incident_id"],
        unique=False,
    )
    # The incidents whose policy snapshot names a user or schedule (`policy_snapshot @> ...`).
    op.create_index(
        "ix_incidents_policy_snapshot",
        "incidents",
        ["policy_snapshot"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"policy_snapshot": "jsonb_path_ops"},
    )


def downgrade() -> None:
    op.drop_index(
        "ix_incidents_policy_snapshot",
        table_name="incidents",
        postgresql_using="gin",
        postgresql_ops={"policy_snapshot": "jsonb_path_ops"},
    )
    op.drop_index("ix_notifications_user_incident", table_name="notifications")

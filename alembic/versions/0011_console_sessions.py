"""console: passwords, browser sessions, incident change notifications

Revision ID: 0011_console_sessions
Revises: 0008_hot_paths
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011_console_sessions"
down_revision: str | None = "0009_inbound_dead"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every change to an incident or its timeline is announced on one channel, the incident's id as
# payload, so open consoles on any API process hear about changes made by any process.
# PostgreSQL delivers identical payloads of one transaction once: a batch is one note per incident.
NOTIFY_FUNCTION = """
CREATE FUNCTION stairway_incident_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'incidents' THEN
    PERFORM pg_notify('stairway_incidents', NEW.id::text);
  ELSE
    PERFORM pg_notify('stairway_incidents', NEW.incident_id::text);
  END IF;
  RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "user_passwords",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_passwords_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_passwords")),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("csrf_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("user_agent", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("ip", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_console_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_console_sessions")),
    )
    op.create_index(
        op.f("ix_console_sessions_expires_at"), "console_sessions", ["expires_at"], unique=False
    )
    op.create_index(
        op.f("ix_console_sessions_user_id"), "console_sessions", ["user_id"], unique=False
    )
    op.create_index(
        "ix_incidents_status_created", "incidents", ["status", "created_at", "id"], unique=False
    )
    op.execute(NOTIFY_FUNCTION)
    op.execute(
        "CREATE TRIGGER incidents_changed AFTER INSERT OR UPDATE ON incidents "
        "FOR EACH ROW EXECUTE FUNCTION stairway_incident_changed()"
    )
    op.execute(
        "CREATE TRIGGER timeline_entries_added AFTER INSERT ON timeline_entries "
        "FOR EACH ROW EXECUTE FUNCTION stairway_incident_changed()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER timeline_entries_added ON timeline_entries")
    op.execute("DROP TRIGGER incidents_changed ON incidents")
    op.execute("DROP FUNCTION stairway_incident_changed()")
    op.drop_index("ix_incidents_status_created", table_name="incidents")
    op.drop_index(op.f("ix_console_sessions_user_id"), table_name="console_sessions")
    op.drop_index(op.f("ix_console_sessions_expires_at"), table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("user_passwords")

"""channels trust: verified contact methods, calendar feeds, on-call notices, chat links

Revision ID: 0012_channels_trust
Revises: 0011_console_sessions
Create Date: 2026-12-02 12:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012_channels_trust"
down_revision: str | None = "0011_console_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "contact_methods", sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "contact_methods",
        sa.Column(
            "verified_by",
            sqlmodel.sql.sqltypes.AutoString(length=16),
            server_default="",
            nullable=False,
        ),
    )
    op.add_column(
        "contact_methods",
        sa.Column(
            "verification_code_hash",
            sqlmodel.sql.sqltypes.AutoString(length=64),
            server_default="",
            nullable=False,
        ),
    )
    op.add_column(
        "contact_methods",
        sa.Column("verification_expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "contact_methods",
        sa.Column("verification_attempts", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_table(
        "calendar_feeds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("schedule_id", sa.Uuid(), nullable=True),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (schedule_id IS NULL)", name=op.f("ck_calendar_feeds_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_calendar_feeds_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_calendar_feeds_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("schedule_id", name=op.f("uq_calendar_feeds_schedule_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feeds_token_hash")),
        sa.UniqueConstraint("user_id", name=op.f("uq_calendar_feeds_user_id")),
    )
    op.create_table(
        "coverage_checks",
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_coverage_checks_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("schedule_id", "day", name=op.f("pk_coverage_checks")),
    )
    op.create_table(
        "oncall_notices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("contact_method_id", sa.Uuid(), nullable=False),
        sa.Column("occasion_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_method_id"],
            ["contact_methods.id"],
            name=op.f("fk_oncall_notices_contact_method_id_contact_methods"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_oncall_notices_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_oncall_notices_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_notices")),
        sa.UniqueConstraint(
            "kind", "schedule_id", "contact_method_id", "occasion_at", name="uq_oncall_notices_once"
        ),
    )
    op.create_index(
        "ix_oncall_notices_pending",
        "oncall_notices",
        ["next_attempt_at"],
        unique=False,
        postgresql_where="status = 'pending'",
    )
    op.create_index(op.f("ix_oncall_notices_user_id"), "oncall_notices", ["user_id"], unique=False)
    op.create_table(
        "chat_identities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("link_code_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("link_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_chat_identities_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_identities")),
        sa.UniqueConstraint("kind", "external_id", name="uq_chat_identities_account"),
        sa.UniqueConstraint("user_id", "kind", name="uq_chat_identities_user_kind"),
    )
    # Methods that were paged before verification existed keep being paged.
    op.execute(
        "UPDATE contact_methods SET verified_at = now(), verified_by = 'setting' "
        "WHERE verified_at IS NULL"
    )


def downgrade() -> None:
    op.drop_table("chat_identities")
    op.drop_index(op.f("ix_oncall_notices_user_id"), table_name="oncall_notices")
    op.drop_index(
        "ix_oncall_notices_pending",
        table_name="oncall_notices",
        postgresql_where="status = 'pending'",
    )
    op.drop_table("oncall_notices")
    op.drop_table("coverage_checks")
    op.drop_table("calendar_feeds")
    for column in (
        "verification_attempts",
        "verification_expires_at",
        "verification_code_hash",
        "verified_by",
        "verified_at",
    ):
        op.drop_column("contact_methods", column)

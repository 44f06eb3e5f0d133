"""channels trust: verified contact methods, calendar feeds

Revision ID: 0012_channels_trust
Revises: 0009_inbound_dead
Create Date: 2026-12-02 12:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012_channels_trust"
down_revision: str | None = "0009_inbound_dead"
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
    # Methods that were paged before verification existed keep being paged.
    op.execute(
        "UPDATE contact_methods SET verified_at = now(), verified_by = 'setting' "
        "WHERE verified_at IS NULL"
    )


def downgrade() -> None:
    op.drop_table("calendar_feeds")
    for column in (
        "verification_attempts",
        "verification_expires_at",
        "verification_code_hash",
        "verified_by",
        "verified_at",
    ):
        op.drop_column("contact_methods", column)

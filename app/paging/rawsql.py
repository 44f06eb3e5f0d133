"""The session's asyncpg connection, for the step path's few hot statements.

Each runs in the session's transaction; a statement costs ~0.2 ms here through asyncpg and
1-3 ms through the ORM. Parameters are always bound, never formatted into the SQL.
"""

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, inside the session's transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    adapter: Any = raw.dbapi_connection
    # SQLAlchemy begins the asyncpg transaction lazily, at its own first statement: begin it
    # now, or these statements would each commit on their own (and FOR UPDATE lock nothing).
    if getattr(adapter, "_transaction", False) is None:
        await adapter._start_transaction()
    elif not hasattr(adapter, "_transaction"):
        await session.execute(text("SELECT 1"))
    return raw.driver_connection

"""The schema: which revision the database is at, and bringing it to the newest one.

A command that starts (`migrate`, `serve`) asks first whether anything is to be done, reading
the database's revision with asyncpg and the revision ids from the migration files' text; only
when something is pending does it load Alembic, SQLAlchemy and the models.
"""

import ast
import asyncio
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent


def alembic_ini() -> Path:
    """alembic.ini beside the package (a checkout), or in the working directory (an image)."""
    for directory in (ROOT, Path.cwd()):
        if (directory / "alembic.ini").is_file():
            return directory / "alembic.ini"
    raise FileNotFoundError("alembic.ini not found beside the app package or in the working dir")


def _literal(node: ast.stmt, name: str) -> tuple[bool, object]:
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets, value = [node.target], node.value
    else:
        return False, None
    if not any(isinstance(t, ast.Name) and t.id == name for t in targets):
        return False, None
    return True, ast.literal_eval(value)


def script_heads(versions: Path) -> frozenset[str] | None:
    """The head revision ids of the migration files, or None when a file is not plain enough
    to read without running it (then Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        found: dict[str, object] = {}
        try:
            for node in ast.parse(path.read_text()).body:
                for name in ("revision", "down_revision"):
                    matched, value = _literal(node, name)
                    if matched:
                        found[name] = value
        except (SyntaxError, ValueError):
            return None
        revision, down = found.get("revision"), found.get("down_revision", ...)
        if not isinstance(revision, str) or down is ...:
            return None
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(d) for d in down)
        elif down is not None:
            return None
    return frozenset(revisions - parents) or None


def _connect_args(database_url: str) -> dict[str, Any]:
    """asyncpg's connect arguments for the URL, read as the engine reads it (multi-host too)."""
    from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
    from sqlalchemy.engine import make_url

    dialect = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
    _, kwargs = dialect.create_connect_args(make_url(database_url))  # type: ignore[no-untyped-call]
    return dict(kwargs)


async def database_revisions(database_url: str) -> frozenset[str]:
    """The revision ids the database is at (none for an empty database)."""
    conn = await asyncpg.connect(**_connect_args(database_url))
    try:
        rows = await conn.fetch("SELECT version_num FROM alembic_version")
    except asyncpg.UndefinedTableError:
        return frozenset()
    finally:
        await conn.close()
    return frozenset(row["version_num"] for row in rows)


def is_current(database_url: str) -> bool | None:
    """The database is at the newest revision (None: the files could not be read plainly)."""
    heads = script_heads(alembic_ini().parent / "alembic" / "versions")
    if heads is None:
        return None
    return asyncio.run(database_revisions(database_url)) == heads


def migrate(database_url: str) -> list[str]:
    """Apply what is pending; the revision ids applied, oldest first (empty: it was current)."""
    if is_current(database_url):
        return []
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config(str(alembic_ini()))
    config.attributes["database_url"] = database_url
    current = asyncio.run(database_revisions(database_url))
    script = ScriptDirectory.from_config(config)
    pending = script.iterate_revisions("heads", tuple(current) or "base")
    applied = [revision.revision for revision in pending]
    command.upgrade(config, "heads")
    return applied[::-1]


def upgrade(database_url: str) -> str:
    """Apply what is pending and say what was done."""
    applied = migrate(database_url)
    return f"applied {', '.join(applied)}" if applied else "schema is current"

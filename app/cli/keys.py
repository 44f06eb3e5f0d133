"""`stairway keys ...`: API keys from the command line."""

from typing import Annotated

import typer

keys = typer.Typer(help="API keys.", no_args_is_help=True)


@keys.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="The admin's email (created if new).")],
    name: Annotated[str, typer.Option(help="The admin's name.")] = "Admin",
) -> None:
    """Create (or reuse) an admin user and print a new API key for it, once."""
    import asyncio

    from app.bootstrap import create_admin_key
    from app.config import get_settings
    from app.migrations import migrate
    from app.servers import resolve_servers

    settings = resolve_servers(get_settings())
    migrate(settings.database_url)
    secret = asyncio.run(create_admin_key(settings, email=email, name=name))
    typer.echo(secret)

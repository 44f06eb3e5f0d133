"""`stairway users ...`: console passwords and sign-in links from the command line."""

import asyncio
import getpass
import sys
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from app.config import Settings

users_app = typer.Typer(help="Console accounts: passwords and sign-in links.", no_args_is_help=True)
Email = Annotated[str, typer.Option(help="The user's email.")]


def _settings() -> "Settings":
    from app.config import get_settings
    from app.migrations import upgrade
    from app.servers import resolve_servers

    settings = resolve_servers(get_settings())
    upgrade(settings.database_url)
    return settings


def _read_password() -> str:
    if not sys.stdin.isatty():
        # Piped in (scripts, secrets managers): the first line is the password.
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Again: "):
        typer.echo("The two passwords differ; nothing changed.", err=True)
        raise typer.Exit(1)
    return first


@users_app.command("set-password")
def set_password(email: Email) -> None:
    """Set a user's console password (read from standard input when it is not a terminal)."""
    from app.accounts.commands import set_password as run
    from app.errors import AppError

    password = _read_password()
    try:
        name = asyncio.run(run(_settings(), email=email, password=password))
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"Password set for {name} <{email}>.")


def _issue(email: str | None, purpose: str, name: str = "", role: str = "responder") -> None:
    from app.accounts.commands import issue_link
    from app.accounts.links import Purpose
    from app.errors import AppError
    from app.users.schemas import Role

    try:
        link = asyncio.run(
            issue_link(
                _settings(),
                email=email,
                purpose=Purpose(purpose),
                name=name,
                role=Role(role),
            )
        )
    except (AppError, ValueError) as exc:
        typer.echo(f"error: {getattr(exc, 'message', exc)}", err=True)
        raise typer.Exit(1) from exc
    hours = link.ttl_seconds // 3600
    typer.echo(f"{link.url}")
    typer.echo(f"(for {link.user_name} <{link.user_email}>; works once, within {hours} h)")


@users_app.command("invite")
def invite(
    email: Email,
    name: Annotated[str, typer.Option(help="The name of a new user.")] = "",
    role: Annotated[str, typer.Option(help="admin, responder or observer (new users).")] = (
        "responder"
    ),
) -> None:
    """Print an invite link that lets the user choose a password (creating the user if new)."""
    _issue(email, "invite", name, role)


@users_app.command("reset-link")
def reset_link(email: Email) -> None:
    """Print a password reset link for the user."""
    _issue(email, "reset")


@users_app.command("sign-in-link")
def sign_in_link(
    email: Annotated[
        str | None, typer.Option(help="The user's email (default: an admin, else the first user).")
    ] = None,
) -> None:
    """Print a one-time link that signs the user in to the console."""
    _issue(email, "sign-in")

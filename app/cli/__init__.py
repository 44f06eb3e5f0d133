"""The `stairway` command.

Each group or command lives in its own module here and imports what it runs only when it
runs, so `stairway --help` costs about what a bare typer program does. A new group is one
module and one `add_typer` line.
"""

import os

import typer

from app.accounts.cli import users_app
from app.cli import doctor, keys, policies, serving
from app.importers.cli import app as import_app

cli = typer.Typer(help="Stairway: incident paging and escalation.", no_args_is_help=True)
serving.register(cli)
cli.command()(doctor.doctor)
cli.add_typer(keys.keys, name="keys")
cli.add_typer(policies.policies_app, name="policies")
cli.add_typer(import_app, name="import")
cli.add_typer(users_app, name="users")


def main() -> None:
    """Entry point of the `stairway` script."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        cli()
    except KeyboardInterrupt:
        # Ctrl-C before a command took over the signals (e.g. while the servers start).
        raise SystemExit(130) from None

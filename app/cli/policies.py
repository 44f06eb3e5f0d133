"""`stairway policies ...`: policy files in git (the work is in app/policyfiles/runner.py)."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

policies_app = typer.Typer(
    help="Policy as code: users, teams, schedules, escalation policies and services as YAML files "
    "(docs/policies.md). diff/apply/export talk to the database directly.",
    no_args_is_help=True,
)
Directory = Annotated[Path, typer.Argument(help="A directory of policy files (or one file).")]
Prune = Annotated[bool, typer.Option("--prune", help="Also delete what the files do not mention.")]


@policies_app.command()
def validate(directory: Directory = Path("policies")) -> None:
    """Check the files without a database; each error names its file, line and field."""
    from app.policyfiles import runner

    desired = runner.read(directory)
    typer.echo(f"{directory}: OK ({desired.count()})")


@policies_app.command()
def diff(
    directory: Directory = Path("policies"),
    prune: Prune = False,
    as_json: Annotated[bool, typer.Option("--json", help="The plan as JSON.")] = False,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit with 2 when there are changes.")
    ] = False,
) -> None:
    """What apply would create, change and delete."""
    from app.policyfiles import runner

    runner.diff(directory, prune=prune, as_json=as_json, exit_code=exit_code)


@policies_app.command()
def apply(
    directory: Directory = Path("policies"),
    prune: Prune = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Carry everything out, then roll it back.")
    ] = False,
) -> None:
    """Make the database say what the files say, in one transaction (all or nothing)."""
    from app.policyfiles import runner

    runner.apply(directory, prune=prune, dry_run=dry_run)


@policies_app.command()
def export(
    directory: Directory,
    force: Annotated[
        bool, typer.Option("--force", help="Write even if the directory has policy files.")
    ] = False,
) -> None:
    """Write the current configuration as policy files (integration key secrets excluded)."""
    from app.policyfiles import runner

    runner.export(directory, force=force)


@policies_app.command()
def preview(
    policy: Annotated[str, typer.Argument(help="The escalation policy's name.")],
    at: Annotated[
        datetime | None, typer.Option(help="When the incident would trigger (default: now).")
    ] = None,
    urgency: Annotated[str, typer.Option(help="high or low.")] = "high",
) -> None:
    """Who would be paged when, if an incident triggered at --at and nobody answered."""
    from app.policyfiles import preview_cli

    preview_cli.preview(policy, at.astimezone(UTC) if at else None, urgency)


@policies_app.command("rotate-key")
def rotate_key(
    service: Annotated[str, typer.Argument(help="The service's name.")],
    key: Annotated[str, typer.Argument(help="The integration key's name.")],
) -> None:
    """Give an integration key a new secret and print it (the old secret stops working)."""
    from app.policyfiles import runner

    runner.rotate_key(service, key)

"""`stairway doctor`: what would keep this installation from paging, with a fix for each."""

import typer


def doctor() -> None:
    """Check what paging needs, with a fix for each; exit 1 if pages would not go out."""
    from app.config import get_settings
    from app.doctor import diagnose, render
    from app.servers import resolve_servers

    findings = diagnose(resolve_servers(get_settings()))
    typer.echo(render(findings))
    if any(finding.level == "fail" for finding in findings):
        raise typer.Exit(1)

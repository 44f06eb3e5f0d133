"""`stairway import pagerduty|opsgenie|grafana-oncall`: policy files and a plan report.

Only typer is imported at the top so `stairway --help` stays quick; each source's module is
imported when its command runs.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from app.importers.plan import Import

app = typer.Typer(
    help="Move in from another pager: read its REST API and write policy files and a report "
    "(docs/moving-in.md). Nothing is changed until `stairway policies apply`.",
    no_args_is_help=True,
)
Out = Annotated[
    Path, typer.Option("--out", help="Directory for the policy files.", show_default=True)
]
Report = Annotated[
    Path | None,
    typer.Option("--report", help="Plan report (Markdown, or JSON when the name ends in .json)."),
]


def _run(read: Callable[[datetime], "Import"], out: Path, report: Path | None) -> None:
    from app.importers.http import SourceError
    from app.importers.plan import report_text, write_import

    try:
        result = read(datetime.now(UTC).replace(microsecond=0))
    except SourceError as exc:
        typer.echo(f"import failed; nothing was written: {exc}", err=True)
        raise typer.Exit(1) from exc
    problems = write_import(result, out, report)
    summary = report_text(result).split("\n")[2]
    typer.echo(f"{result.source}: {summary}")
    typer.echo(f"Policy files in {out}" + (f", report in {report}" if report else ""))
    for problem in problems:
        typer.echo(f"  {problem}", err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s) in the written files: see above.", err=True)
        raise typer.Exit(1)
    typer.echo(f"Next: stairway policies diff {out}  (then: stairway policies apply {out})")


@app.command()
def pagerduty(
    api_token: Annotated[
        str, typer.Option(envvar="PAGERDUTY_API_TOKEN", help="A read-only REST API key.")
    ],
    base_url: Annotated[
        str | None, typer.Option(help="https://api.eu.pagerduty.com for the EU service region.")
    ] = None,
    out: Out = Path("imported/pagerduty"),
    report: Report = None,
) -> None:
    """Users, teams, schedules, escalation policies, services (keys kept), maintenance windows."""
    from app.importers import pagerduty as source

    _run(lambda now: source.read(api_token, base_url=base_url, now=now), out, report)


@app.command()
def opsgenie(
    api_key: Annotated[
        str, typer.Option(envvar="OPSGENIE_API_KEY", help="An API key with read access.")
    ],
    base_url: Annotated[
        str, typer.Option(help="https://api.eu.opsgenie.com for the EU instance.")
    ] = "https://api.opsgenie.com",
    out: Out = Path("imported/opsgenie"),
    report: Report = None,
) -> None:
    """Users, teams, schedules, escalations, teams' integrations, heartbeats and maintenance."""
    from app.importers import opsgenie as source

    _run(lambda now: source.read(api_key, base_url=base_url, now=now), out, report)


@app.command("grafana-oncall")
def grafana_oncall(
    url: Annotated[str, typer.Option(help="The OnCall API URL, e.g. https://oncall.example.com.")],
    token: Annotated[str, typer.Option(envvar="GRAFANA_ONCALL_TOKEN", help="An API token.")],
    out: Out = Path("imported/grafana-oncall"),
    report: Report = None,
) -> None:
    """Users, notification rules, teams, schedules, escalation chains and integrations."""
    from app.importers import grafana_oncall as source

    _run(lambda now: source.read(token, base_url=url, now=now), out, report)

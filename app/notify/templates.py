"""Message templates, rendered in a Jinja2 sandbox (each provider module holds its defaults).

Incident fields are data, never template source: a title like `{{ 7*7 }}` is printed as is.
Operators may override any default by dropping a file of the same name in `templates_dir`.
"""

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, ChoiceLoader, DictLoader, FileSystemLoader, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from app.notify.base import DeliveryResult, Outcome, Page

# The one-line summary most channels title a page with: "#42 [CRITICAL] disk full".
HEADLINE = "#{{ incident.number }} [{{ incident.severity | upper }}] {{ incident.title }}"


def _plain(value: Any) -> Any:
    return "" if value is None else value


def _environment(loader: BaseLoader, *, finalize: Callable[[Any], Any], html: bool) -> Any:
    return SandboxedEnvironment(
        loader=loader, autoescape=html, finalize=finalize, trim_blocks=False, auto_reload=False
    )


class Templates:
    """Renders `<channel>.<part>.j2` templates; defaults unless overridden in a directory."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        defaults: Mapping[str, str],
        escapes: Mapping[str, Callable[[Any], str]],
    ) -> None:
        loaders: list[BaseLoader] = [FileSystemLoader(directory)] if directory else []
        loader = ChoiceLoader([*loaders, DictLoader(dict(defaults))])
        # One environment per escaping rule: HTML autoescapes; a channel with its own markup
        # (Slack's mrkdwn) escapes every expression; the rest print values as they are.
        self._html = _environment(loader, finalize=_plain, html=True)
        self._plain = _environment(loader, finalize=_plain, html=False)
        self._escaped = {
            channel: _environment(loader, finalize=escape, html=False)
            for channel, escape in escapes.items()
        }

    def render(self, name: str, page: Page) -> str:
        """Render one template for a page (raises jinja2.TemplateError on a broken template)."""
        # The channel's escaping holds for a notice too (Telegram's HTML, Slack's mrkdwn).
        channel = name.partition(".")[0]
        if page.notice is not None:
            name = notice_template(name)
        if name.endswith(".html.j2"):
            env = self._html
        else:
            env = self._escaped.get(channel, self._plain)
        return str(env.get_template(name).render(page_context(page)))


# A notice (verification code, handoff) goes through every channel's real send path; its text
# replaces the channel's incident templates part for part.
NOTICE_TEMPLATES = {
    "notice.title.j2": "{{ notice.title }}",
    "notice.txt.j2": "{{ notice.title }}: {{ notice.text }}",
    "notice.html.j2": "<b>{{ notice.title }}</b><br>{{ notice.text }}",
}
TITLE_PARTS = ("title", "subject")


def notice_template(name: str) -> str:
    """The notice template standing in for one of a channel's templates."""
    part = name.split(".")[1] if name.count(".") >= 2 else ""
    if part in TITLE_PARTS:
        return "notice.title.j2"
    return "notice.html.j2" if name.endswith(".html.j2") else "notice.txt.j2"


def page_context(page: Page) -> dict[str, Any]:
    """What a template sees: the incident as the API shows it, the level, the user, the links."""
    return {
        "incident": page.incident,
        "level": page.level,
        "escalation_loop": page.loop,
        "user": page.user,
        "actions": page.actions,
        "channel": page.channel,
        "notice": page.notice,
    }


def template_failure(exc: TemplateError) -> DeliveryResult:
    """A broken custom template fails the page for good (retrying renders the same)."""
    return DeliveryResult(Outcome.PERMANENT, f"template error: {type(exc).__name__}: {exc}"[:300])

"""Message templates per provider, rendered in a Jinja2 sandbox.

Incident fields are data, never template source: a title like `{{ 7*7 }}` is printed as is.
Operators may override any default by dropping a file of the same name in `templates_dir`.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, ChoiceLoader, DictLoader, FileSystemLoader, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from app.notify.base import DeliveryResult, Outcome, Page

_SUBJECT = "[Stairway] #{{ incident.number }} {{ incident.severity | upper }}: {{ incident.title }}"

_TEXT = """\
{{ user.name if user else "Hello" }},

incident #{{ incident.number }} needs a response (escalation level {{ level }}\
{% if escalation_loop %}, repeat {{ escalation_loop }}{% endif %}).

Title:    {{ incident.title }}
Severity: {{ incident.severity }} (urgency {{ incident.urgency }})
Status:   {{ incident.status }}
Source:   {{ incident.source or "-" }}
Opened:   {{ incident.created_at }}
{% if incident.details %}
Details:
{% for key, value in incident.details | dictsort %}  {{ key }}: {{ value }}
{% endfor %}{% endif %}
Acknowledge: {{ actions.acknowledge }}
Resolve:     {{ actions.resolve }}

Each link asks for confirmation, works once, and expires.
"""

_HTML = """\
<!doctype html>
<html><body style="font-family: sans-serif">
<p>{{ user.name if user else "Hello" }},</p>
<p>incident <strong>#{{ incident.number }}</strong> needs a response
(escalation level {{ level }}{% if escalation_loop %}, repeat {{ escalation_loop }}{% endif %}).</p>
<table>
<tr><th align="left">Title</th><td>{{ incident.title }}</td></tr>
<tr><th align="left">Severity</th>
<td>{{ incident.severity }} (urgency {{ incident.urgency }})</td></tr>
<tr><th align="left">Status</th><td>{{ incident.status }}</td></tr>
<tr><th align="left">Source</th><td>{{ incident.source or "-" }}</td></tr>
<tr><th align="left">Opened</th><td>{{ incident.created_at }}</td></tr>
{% for key, value in (incident.details or {}) | dictsort %}
<tr><th align="left">{{ key }}</th><td>{{ value }}</td></tr>
{% endfor %}
</table>
<p><a href="{{ actions.acknowledge }}">Acknowledge</a> &middot;
<a href="{{ actions.resolve }}">Resolve</a></p>
<p style="color: #666">Each link asks for confirmation, works once, and expires.</p>
</body></html>
"""

DEFAULTS: dict[str, str] = {
    "slack.text.j2": (
        "#{{ incident.number }} [{{ incident.severity | upper }}] {{ incident.title }}"
    ),
    "slack.md.j2": (
        "{{ ':rotating_light:' if incident.severity == 'critical' else ':warning:' }} "
        "*#{{ incident.number }} {{ incident.title }}*\n"
        "Severity *{{ incident.severity }}* · urgency {{ incident.urgency }} · "
        "escalation level {{ level }}"
        "{% if escalation_loop %} (repeat {{ escalation_loop }}){% endif %}"
        "{% if incident.source %} · source {{ incident.source }}{% endif %}"
    ),
    "email.subject.j2": _SUBJECT,
    "email.txt.j2": _TEXT,
    "email.html.j2": _HTML,
    "sms.txt.j2": (
        "[Stairway] #{{ incident.number }} {{ incident.severity | upper }}: "
        "{{ incident.title | truncate(100) }}. "
        "Reply 'ack {{ incident.number }}' or 'resolve {{ incident.number }}'."
    ),
    "voice.txt.j2": (
        "Stairway alert. Incident {{ incident.number }}, severity {{ incident.severity }}: "
        "{{ incident.title | truncate(200) }}. Escalation level {{ level }}. "
        "Acknowledge by replying to the text message, or from the link in your page."
    ),
}


def slack_escape(value: Any) -> str:
    """Slack mrkdwn control characters, escaped as Slack asks (no `<!channel>` from a title)."""
    text = "" if value is None else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(value: Any) -> Any:
    return "" if value is None else value


def _environment(loader: BaseLoader, *, finalize: Callable[[Any], Any], html: bool) -> Any:
    return SandboxedEnvironment(
        loader=loader, autoescape=html, finalize=finalize, trim_blocks=False, auto_reload=False
    )


class Templates:
    """Renders `<channel>.<part>.j2` templates; defaults unless overridden in a directory."""

    def __init__(self, directory: Path | None = None) -> None:
        loaders: list[BaseLoader] = [FileSystemLoader(directory)] if directory else []
        loader = ChoiceLoader([*loaders, DictLoader(DEFAULTS)])
        # One environment per escaping rule: HTML autoescapes, Slack escapes every expression.
        self._html = _environment(loader, finalize=_plain, html=True)
        self._slack = _environment(loader, finalize=slack_escape, html=False)
        self._plain = _environment(loader, finalize=_plain, html=False)

    def render(self, name: str, page: Page) -> str:
        """Render one template for a page (raises jinja2.TemplateError on a broken template)."""
        if name.endswith(".html.j2"):
            env = self._html
        elif name.startswith("slack."):
            env = self._slack
        else:
            env = self._plain
        return str(env.get_template(name).render(page_context(page)))


def page_context(page: Page) -> dict[str, Any]:
    """What a template sees: the incident as the API shows it, the level, the user, the links."""
    return {
        "incident": page.incident,
        "level": page.level,
        "escalation_loop": page.loop,
        "user": page.user,
        "actions": page.actions,
        "channel": page.channel,
    }


def template_failure(exc: TemplateError) -> DeliveryResult:
    """A broken custom template fails the page for good (retrying renders the same)."""
    return DeliveryResult(Outcome.PERMANENT, f"template error: {type(exc).__name__}: {exc}"[:300])

"""Templates: incident text is data (never template code), HTML and Slack are escaped, overrides."""

from pathlib import Path

import httpx
import pytest
from jinja2.exceptions import SecurityError
from markupsafe import escape

from app.notify.base import Notice, Outcome
from app.notify.notices import notice_page
from app.notify.registry import BY_TYPE, DEFAULT_TEMPLATES, templates
from app.notify.slack import SlackProvider
from tests.notify.helpers import page

INJECTIONS = [
    "{{ 7*7 }}",
    "{% for x in range(3) %}loop{% endfor %}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{# comment #}{{ config }}",
]


@pytest.mark.parametrize("name", sorted(DEFAULT_TEMPLATES))
@pytest.mark.parametrize("title", INJECTIONS)
def test_an_incident_title_or_detail_is_printed_literally_never_run(name: str, title: str) -> None:
    rendered = templates().render(name, page("x", "a", title=title, details={"k": title}))
    spec = BY_TYPE.get(name.partition(".")[0])  # None for the notice templates
    channel_escape = spec.escape if spec is not None else None
    if name.endswith(".html.j2"):
        expected = str(escape(title))
    elif channel_escape is not None:
        expected = channel_escape(title)
    else:
        expected = title
    source = DEFAULT_TEMPLATES[name]
    if "incident.title" in source or "incident.details" in source:
        assert expected in rendered
    assert "49" not in rendered
    assert "looploop" not in rendered
    assert "<class" not in rendered


@pytest.mark.parametrize("channel", sorted(spec.type for spec in BY_TYPE.values() if spec.escape))
def test_a_notice_is_escaped_as_the_channel_escapes_incidents(channel: str) -> None:
    notice = Notice(kind="handoff", title="On call: <db & cache>", text="from <now> @here")
    page = notice_page(notice, channel=channel, address="x", user=None, idempotency_key="k")
    name = next(n for n in DEFAULT_TEMPLATES if n.startswith(f"{channel}.") and "title" not in n)
    escape_channel = BY_TYPE[channel].escape
    assert escape_channel is not None
    assert templates().render(name, page) == (
        f"{escape_channel(notice.title)}: {escape_channel(notice.text)}"
    )


def test_html_escapes_and_slack_neutralises_mentions() -> None:
    rendered = templates()
    evil = page("x", "a", title="<script>alert(1)</script> <!channel> & co")
    html = rendered.render("email.html.j2", evil)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    slack = rendered.render("slack.md.j2", evil)
    assert "<!channel>" not in slack
    assert "&lt;!channel&gt; &amp; co" in slack


def test_an_operator_template_overrides_a_default(tmp_path: Path) -> None:
    (tmp_path / "sms.txt.j2").write_text("PAGE {{ incident.number }}: {{ incident.title | upper }}")
    overridden = templates(tmp_path)
    assert overridden.render("sms.txt.j2", page("sms", "+1", title="db down")) == "PAGE 42: DB DOWN"
    assert overridden.render("voice.txt.j2", page("voice", "+1")).startswith("Stairway alert.")


def test_operator_templates_run_sandboxed(tmp_path: Path) -> None:
    (tmp_path / "sms.txt.j2").write_text("{{ incident.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(SecurityError):
        templates(tmp_path).render("sms.txt.j2", page("sms", "+1"))


async def test_a_broken_template_fails_the_page_for_good(tmp_path: Path) -> None:
    (tmp_path / "slack.md.j2").write_text("{{ incident.title.__globals__ }}{% if %}")
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as c:
        result = await SlackProvider(c, templates(tmp_path)).send(page("slack", "https://h.test"))
    assert result.outcome is Outcome.PERMANENT
    assert result.detail.startswith("template error: TemplateSyntaxError")

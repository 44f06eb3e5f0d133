"""Email pages over SMTP: plain text and HTML, with acknowledge / resolve links."""

import hashlib
import re
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
from jinja2 import TemplateError

from app.config import Settings
from app.notify.base import DeliveryResult, Outcome, Page
from app.notify.spec import ProviderSpec, email_address
from app.notify.templates import Templates, template_failure

MAX_DETAIL = 300

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

TEMPLATES = {"email.subject.j2": _SUBJECT, "email.txt.j2": _TEXT, "email.html.j2": _HTML}


def smtp_outcome(code: int) -> Outcome:
    """SMTP reply codes: 4xx is a temporary refusal, 5xx a permanent one."""
    return Outcome.TRANSIENT if 400 <= code < 500 else Outcome.PERMANENT


def _header(value: str) -> str:
    # A title with line breaks must not become extra headers.
    return re.sub(r"\s+", " ", value).strip()[:250]


class EmailProvider:
    channel = "email"

    def __init__(self, settings: Settings, templates: Templates) -> None:
        self.settings = settings
        self.templates = templates

    def message(self, page: Page) -> EmailMessage:
        """The mail for one page; retries carry the same Message-ID."""
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = page.address
        message["Subject"] = _header(self.templates.render("email.subject.j2", page))
        message["Date"] = formatdate(localtime=False)
        digest = hashlib.sha256(page.idempotency_key.encode()).hexdigest()[:32]
        message["Message-ID"] = f"<{digest}@stairway>"
        message["Auto-Submitted"] = "auto-generated"
        message["X-Stairway-Incident"] = str(page.incident.get("id", ""))
        message.set_content(self.templates.render("email.txt.j2", page))
        message.add_alternative(self.templates.render("email.html.j2", page), subtype="html")
        return message

    async def send(self, page: Page) -> DeliveryResult:
        """Hand the mail to the configured SMTP server."""
        try:
            message = self.message(page)
        except TemplateError as exc:
            return template_failure(exc)
        s = self.settings
        try:
            _, reply = await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username or None,
                password=s.smtp_password.get_secret_value() or None,
                start_tls=s.smtp_starttls,
                use_tls=s.smtp_tls,
                timeout=s.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"SMTP {r.code} {r.message}" for r in exc.recipients)
            outcome = Outcome.PERMANENT if all(c >= 500 for c in codes) else Outcome.TRANSIENT
            return DeliveryResult(outcome, detail[:MAX_DETAIL], codes[0] if codes else None)
        except aiosmtplib.SMTPResponseException as exc:
            detail = f"SMTP {exc.code} {exc.message}"[:MAX_DETAIL]
            return DeliveryResult(smtp_outcome(exc.code), detail, exc.code)
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Connection refused, timeouts, disconnects: the server may be back soon.
            return DeliveryResult(Outcome.TRANSIENT, f"{type(exc).__name__}: {exc}"[:MAX_DETAIL])
        return DeliveryResult(Outcome.SENT, f"SMTP accepted: {reply}"[:MAX_DETAIL])


SPEC = ProviderSpec(
    type="email",
    check_address=email_address,
    build=lambda deps: EmailProvider(deps.settings, deps.templates),
    templates=TEMPLATES,
    enabled=lambda settings: bool(settings.smtp_host),
    needs="STAIRWAY_SMTP_HOST",
)

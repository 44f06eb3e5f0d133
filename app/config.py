"""Runtime settings, read once from the environment (prefix-free names, e.g. DATABASE_URL)."""

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.database_url import normalize_database_url


class Settings(BaseSettings):
    """All knobs of a Stairway process."""

    model_config = SettingsConfigDict(env_prefix="STAIRWAY_", env_file=".env", extra="ignore")

    # The two URLs keep their conventional unprefixed names; empty means "start embedded servers".
    database_url: str = Field(default="", validation_alias="DATABASE_URL")
    redis_url: str = Field(default="", validation_alias="REDIS_URL")
    data_dir: Path = Path(".stairway")
    # Policy files `stairway serve` loads into a database that has no users yet.
    policies_dir: Path = Path("policies")

    host: str = "127.0.0.1"
    port: int = 8080
    # Where people and providers reach the API (signed action links, Twilio callbacks). Unset:
    # the listen address, or loopback when the API listens on every interface.
    public_url: str = ""
    secret_key: str = ""

    queue_name: str = "stairway:queue"
    worker_max_jobs: int = 1000
    # How often an idle worker reads its queue: the wait of a page's first hop (API -> worker)
    # at idle; each read is one Redis command (about 3 % of a core per idle worker at 10 ms here).
    worker_poll_delay_seconds: float = 0.01
    worker_job_timeout_seconds: int = 60
    # `stairway worker` lowers its own CPU priority by this much (os.nice; 0 leaves it): when
    # the CPU is saturated, as in an alert storm, the API that accepts alerts and people's
    # acknowledgements outranks the paging work, which catches up from PostgreSQL.
    worker_nice: int = Field(default=5, ge=0, le=19)
    sweeper_interval_seconds: int = 2
    sweeper_grace_seconds: float = 2.0
    worker_metrics_port: int = 0
    # On SIGINT/SIGTERM a worker takes no new job and gives the running ones this long to end
    # their current batch (batch jobs hand their backlog to the other workers), so a rolling
    # restart cuts no delivery short; what still runs then is cancelled and stays queued.
    worker_stop_grace_seconds: float = 15.0

    db_pool_size: int = 20
    db_max_overflow: int = 10
    # How long a request waits for a free database connection before it is answered 503.
    db_pool_timeout_seconds: float = 10.0
    # How long one connection attempt may take, all hosts of a multi-host URL together: a
    # failed-over primary whose address no longer answers must not hold requests for asyncpg's
    # default of 60 s.
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0)

    delivery_timeout_seconds: float = 5.0
    delivery_max_attempts: int = 5
    delivery_backoff_base_seconds: float = 1.0
    delivery_backoff_max_seconds: float = 60.0

    max_body_bytes: int = 256 * 1024
    # Inbound alerts (/v2/enqueue, /integrations/...): PagerDuty's 512 KB body limit, and a
    # token bucket per integration key (rate 0 disables it).
    max_inbound_body_bytes: int = 512 * 1024
    ingest_rate_per_second: float = 10.0
    ingest_burst: int = 200
    # REST API (/api/v1): a token bucket per API or integration key (rate 0 disables it).
    api_rate_per_second: float = 20.0
    api_burst: int = 200
    # What an API key stands for (user, role, expiry) is kept this long per API process: a key
    # revoked, or a user deleted or demoted, by another process is refused within this time
    # (at once by the process that committed the change; an expiry instant is exact). 0: no cache.
    api_key_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    heartbeat_check_interval_seconds: int = 2
    # Opsgenie request statuses (GET /v2/alerts/requests/{requestId}) are kept this long; the
    # worker's sweeper deletes older receipts (docs/integrations.md).
    inbound_receipt_retention_days: int = Field(default=7, ge=1, le=365)
    # Teams (docs/teams.md): whether responders may act on incidents of teams they are not a
    # manager or responder of (a team's own managers and responders always may).
    team_responders_act_on_other_teams: bool = True
    action_link_ttl_seconds: int = 24 * 3600
    # "required": new contact methods are paged only once verified (a code sent through the
    # channel, or an admin's mark); "trusted": new contact methods are verified when added.
    contact_verification: Literal["required", "trusted"] = "required"
    verification_code_ttl_seconds: int = Field(default=900, ge=60, le=86400)
    verification_max_attempts: int = Field(default=5, ge=1, le=20)
    # On-call notices (docs/schedules.md): a notice when a shift starts, an optional reminder
    # before it, and a daily warning to admins about gaps in the next N days (0: none).
    oncall_notices: bool = True
    oncall_reminder_minutes: int = Field(default=0, ge=0, le=7 * 24 * 60)
    oncall_notice_interval_seconds: int = Field(default=30, ge=1, le=300)
    coverage_gap_days: int = Field(default=7, ge=0, le=90)
    coverage_gap_hour_utc: int = Field(default=9, ge=0, le=23)
    # iCalendar feeds show shifts from this many days ago to this many days ahead.
    calendar_feed_past_days: int = Field(default=14, ge=0, le=366)
    calendar_feed_future_days: int = Field(default=90, ge=1, le=366)

    # Notification providers (docs/notifications.md). An unset SMTP host or Twilio account
    # leaves that channel without a provider: its pages fail permanently and say so.
    templates_dir: Path | None = None
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool | None = None  # None: use STARTTLS when the server offers it
    smtp_tls: bool = False  # implicit TLS (port 465)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_from: str = "Stairway <stairway@localhost>"
    smtp_timeout_seconds: float = 10.0
    twilio_base_url: str = "https://api.twilio.com"
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_from_number: str = ""
    # Which gateway carries `sms` and `voice` pages (docs/notifications.md).
    sms_gateway: Literal["twilio", "vonage"] = "twilio"
    vonage_rest_base_url: str = "https://rest.nexmo.com"
    vonage_api_base_url: str = "https://api.nexmo.com"
    vonage_api_key: str = ""
    vonage_api_secret: SecretStr = SecretStr("")
    vonage_from_number: str = ""
    # Voice calls authenticate as a Vonage application (a JWT signed with its private key).
    vonage_application_id: str = ""
    vonage_private_key: SecretStr = SecretStr("")
    # Inbound SMS are signed with the account's signature secret and method.
    vonage_signature_secret: SecretStr = SecretStr("")
    vonage_signature_method: Literal["md5hash", "md5", "sha1", "sha256", "sha512"] = "sha256"
    slack_signing_secret: SecretStr = SecretStr("")
    # Telegram: the bot that pages, and the secret_token its webhook was set with.
    telegram_bot_token: SecretStr = SecretStr("")
    telegram_base_url: str = "https://api.telegram.org"
    telegram_webhook_secret: SecretStr = SecretStr("")
    # Mattermost: the token of the `/stairway` slash command that links accounts.
    mattermost_command_token: SecretStr = SecretStr("")
    chat_link_code_ttl_seconds: int = Field(default=900, ge=60, le=86400)
    # Matrix: the account Stairway posts as (it must have joined the rooms it pages).
    matrix_homeserver_url: str = ""
    matrix_access_token: SecretStr = SecretStr("")
    # Pushover: the application's token; high urgency pages are emergencies, repeated every
    # `retry` seconds until acknowledged or `expire` seconds have passed (Pushover's limits).
    pushover_base_url: str = "https://api.pushover.net"
    pushover_app_token: SecretStr = SecretStr("")
    pushover_emergency_retry_seconds: int = Field(default=60, ge=30)
    pushover_emergency_expire_seconds: int = Field(default=3600, ge=30, le=10800)
    # apprise connects on its own, outside the outbound client and its SSRF rule: off by default.
    apprise_enabled: bool = False
    # At most one page per destination (phone number, address) per this many seconds, by channel.
    # Unset: each channel's default (app/notify/registry.py; sms 30 s, voice 60 s).
    destination_min_interval_seconds: dict[str, float] | None = None

    # SSRF guard for webhook contact methods, subscriptions and webhook targets: refuse private,
    # loopback and link-local destinations. Unset means allowed only in embedded (development)
    # mode, i.e. when DATABASE_URL is empty; set it explicitly to override.
    allow_private_webhook_targets: bool | None = None
    max_outbound_response_bytes: int = 64 * 1024

    # Outbound event webhooks: exponential backoff with jitter, about 17 hours in all by default.
    event_backoff_base_seconds: float = 10.0
    event_backoff_max_seconds: float = 4 * 3600.0
    event_max_attempts: int = 15
    # Console sign-in (docs/console.md): sessions expire after this long unused, and after
    # the absolute time whatever happens; failed sign-ins per email (and per client address,
    # five times as many) within the window before further attempts are refused.
    session_idle_seconds: int = Field(default=12 * 3600, ge=60)
    session_absolute_seconds: int = Field(default=7 * 86400, ge=60)
    signin_failures_allowed: int = Field(default=5, ge=1)
    signin_failure_window_seconds: int = Field(default=900, ge=1)
    invite_link_ttl_seconds: int = Field(default=7 * 86400, ge=60)
    # OpenID Connect single sign-on; off while the issuer is empty.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr = SecretStr("")
    oidc_scopes: str = "openid email profile"
    # Create a user on first SSO sign-in (else only existing users, matched by email, get in),
    # with this role, or the role a value of the claim maps to (e.g. {"sre": "admin"}).
    oidc_auto_provision: bool = False
    oidc_default_role: str = "observer"
    oidc_role_claim: str = "groups"
    oidc_role_map: dict[str, str] = {}
    # Only these email domains may sign in with SSO (empty: any).
    oidc_allowed_domains: list[str] = []
    log_json: bool | None = None
    # One log line per HTTP request (uvicorn's access log); off for alert storms, if wanted.
    access_log: bool = True

    @field_validator("database_url")
    @classmethod
    def _asyncpg_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @model_validator(mode="after")
    def _resolve_defaults(self) -> "Settings":
        if self.allow_private_webhook_targets is None:
            self.allow_private_webhook_targets = not self.database_url
        if not self.public_url:
            self.public_url = default_public_url(self.host, self.port)
        return self

    @property
    def listens_everywhere(self) -> bool:
        """The API accepts connections on every interface (0.0.0.0, ::)."""
        return self.host in ALL_INTERFACES


ALL_INTERFACES = frozenset({"", "0.0.0.0", "::", "[::]"})


def default_public_url(host: str, port: int) -> str:
    """The URL of the listen address; loopback stands in for "every interface"."""
    if host in ALL_INTERFACES:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"http://{host}:{port}"


def is_loopback_url(url: str) -> bool:
    """The URL names this machine only (localhost, 127.0.0.0/8, ::1)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()

"""Runtime settings, read once from the environment (prefix-free names, e.g. DATABASE_URL)."""

from functools import lru_cache
from pathlib import Path

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

    public_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key: str = ""

    queue_name: str = "stairway:queue"
    worker_max_jobs: int = 1000
    worker_poll_delay_seconds: float = 0.05
    worker_job_timeout_seconds: int = 60
    # `stairway worker` lowers its own CPU priority by this much (os.nice; 0 leaves it): when
    # the CPU is saturated, as in an alert storm, the API that accepts alerts and people's
    # acknowledgements outranks the paging work, which catches up from PostgreSQL.
    worker_nice: int = Field(default=5, ge=0, le=19)
    # `stairway worker` on SIGTERM takes no new job and gives running ones this long to finish
    # (batch jobs hand their backlog to the other workers first), so a rolling restart cuts no
    # page off between the provider's answer and its commit.
    worker_shutdown_grace_seconds: int = Field(default=20, ge=0)
    sweeper_interval_seconds: int = 2
    sweeper_grace_seconds: float = 2.0
    worker_metrics_port: int = 0

    db_pool_size: int = 20
    db_max_overflow: int = 10
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
    heartbeat_check_interval_seconds: int = 2
    action_link_ttl_seconds: int = 24 * 3600

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
    slack_signing_secret: SecretStr = SecretStr("")
    # At most one page per destination (phone number, address) per this many seconds, by channel.
    destination_min_interval_seconds: dict[str, float] = {"sms": 30.0, "voice": 60.0}

    # SSRF guard for webhook contact methods, subscriptions and webhook targets: refuse private,
    # loopback and link-local destinations. Unset means allowed only in embedded (development)
    # mode, i.e. when DATABASE_URL is empty; set it explicitly to override.
    allow_private_webhook_targets: bool | None = None
    max_outbound_response_bytes: int = 64 * 1024

    # Outbound event webhooks: exponential backoff with jitter, about 17 hours in all by default.
    event_backoff_base_seconds: float = 10.0
    event_backoff_max_seconds: float = 4 * 3600.0
    event_max_attempts: int = 15
    log_json: bool | None = None
    # One log line per HTTP request (uvicorn's access log); off for alert storms, if wanted.
    access_log: bool = True

    @field_validator("database_url")
    @classmethod
    def _asyncpg_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @model_validator(mode="after")
    def _resolve_private_targets(self) -> "Settings":
        if self.allow_private_webhook_targets is None:
            self.allow_private_webhook_targets = not self.database_url
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()

